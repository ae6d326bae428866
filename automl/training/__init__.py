"""Fitting one configuration of one model: the epoch loop, the task feeds, tree stages, inference
and candidate scoring, the device. Imports ``automl.evaluation`` and below."""
