"""Fitting tree ensembles (GBDT): each "epoch" adds a stage of trees, judged by the same
``EpochLoop`` as the neural models; the best stage count is kept."""

from __future__ import annotations

import time

import torch

from automl.evaluation.metrics import user_ids
from automl.features.encode import EncodedData
from automl.training.loop import EpochLoop, Reporter, TrialOutcome, kept_outputs
from automl.training.predict import score_test
from models.card import ModelCard


def fit_trees(card: ModelCard, params: dict, data: EncodedData, metric: str, max_epochs: int, patience: int,
              reporter: Reporter | None) -> TrialOutcome:
    """Fit ``card``'s estimator on the CPU copies of the splits, one stage per epoch."""
    task = data.spec.task
    model = card.build(data.spec, params)
    arrays = {s: {k: v.cpu().numpy() for k, v in b.items()} for s, b in data.splits.items()}
    x = {s: model.features(a) for s, a in arrays.items()}
    loop = EpochLoop(task, metric, arrays["val"]["label"], patience, reporter, user_ids(arrays["val"], data.spec))
    started, epoch = time.perf_counter(), 0
    for epoch in range(1, max_epochs + 1):
        tick = time.perf_counter()
        model.fit_stage(x["train"], arrays["train"]["label"])
        _, stop = loop.after_epoch(epoch, 0.0, model.predict(x["val"]), time.perf_counter() - tick)
        if stop:
            break
    train_seconds = time.perf_counter() - started
    model.keep_stages(loop.best_epoch)
    test_metrics, latency, test_outputs = ({}, float("nan"), None) if loop.pruned else score_test(
        lambda: model.predict(x["test"]), arrays["test"]["label"], task, torch.device("cpu"),
        user_ids(arrays["test"], data.spec))
    return TrialOutcome(
        val=loop.best_val, test=test_metrics, best_epoch=loop.best_epoch, epochs=epoch,
        train_seconds=train_seconds, n_params=model.n_params(), latency_ms_per_1k=latency,
        device="cpu (scikit-learn)", pruned=loop.pruned, history=loop.history, notes=loop.notes(),
        outputs=kept_outputs(loop, test_outputs),
    )
