"""Fitting tree ensembles (GBDT): each "epoch" adds a stage of trees, judged by the same
``EpochLoop`` as the neural models; the best stage count is kept."""

from __future__ import annotations

import time

import torch

from automl.evaluation.metrics import user_ids
from automl.features.encode import EncodedData
from automl.training.loop import EpochLoop, FitSettings, TrialOutcome, kept_outputs
from automl.training.predict import ms_per_1k, timed
from models.card import ModelCard, TreeEstimator


def fit_trees(card: ModelCard, params: dict, data: EncodedData, settings: FitSettings) -> TrialOutcome:
    """Fit ``card``'s estimator on the CPU copies of the splits, one stage per epoch (the time cap
    is checked between stages)."""
    task = data.spec.task
    model: TreeEstimator = card.build(data.spec, params)
    arrays = {s: {k: v.cpu().numpy() for k, v in b.items()} for s, b in data.splits.items()}
    x = {s: model.features(a) for s, a in arrays.items()}
    loop = EpochLoop(task, settings.metric, arrays["val"]["label"], settings.patience, settings.reporter,
                     user_ids(arrays["val"], data.spec))
    started, epoch = time.perf_counter(), 0
    for epoch in range(1, settings.max_epochs + 1):
        tick = time.perf_counter()
        model.fit_stage(x["train"], arrays["train"]["label"], torch.get_num_threads())
        seconds = time.perf_counter() - tick
        _, stop = loop.after_epoch(epoch, 0.0, model.predict(x["val"]), seconds)
        if not stop and settings.time_cap_s is not None and time.perf_counter() - started >= settings.time_cap_s:
            loop.capped, stop = True, True
        if stop:
            break
    train_seconds = time.perf_counter() - started
    model.keep_stages(loop.best_epoch)
    test_metrics, latency, test_outputs = {}, float("nan"), None
    if not loop.pruned:
        test_outputs, seconds = timed(lambda: model.predict(x["test"]), torch.device("cpu"))
        test_metrics, test_outputs = loop.judge_test(test_outputs, arrays["test"]["label"],
                                                     user_ids(arrays["test"], data.spec))
        latency = ms_per_1k(seconds, len(test_outputs))
    return TrialOutcome(
        val=loop.best_val, test=test_metrics, best_epoch=loop.best_epoch, epochs=epoch,
        train_seconds=train_seconds, n_params=model.n_params(), latency_ms_per_1k=latency,
        device="cpu (LightGBM)", pruned=loop.pruned, history=loop.history, notes=loop.notes(),
        outputs=kept_outputs(loop, None if test_outputs is None else {"test": test_outputs}), calibration=loop.best_calibration, model=model,
    )
