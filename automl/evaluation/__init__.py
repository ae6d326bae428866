"""Metrics on model outputs (AUC, logloss, GAUC, RMSE, MAE, HR/NDCG/MRR@K) and ensemble
selection over stored outputs: pure functions of arrays. Imports ``automl.features`` and below."""
