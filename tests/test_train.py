"""The training loop: early stopping, pruning, divergence, best-epoch restore, metrics."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from synth import planted_ctr_data

from automl.evaluation import metrics
from automl.training.fit import train_and_evaluate
from automl.training.loop import TIME_LIMIT_NOTE, TrainingDiverged, Verdict
from automl.training.predict import predict
from models import REGISTRY

FM = REGISTRY["fm"]
PARAMS = {**FM.defaults, "lr": 0.01, "batch_size": 256}


def test_early_stopping_keeps_the_best_epoch_and_scores_test_with_it():
    data = planted_ctr_data()
    outcome = train_and_evaluate(FM, {**PARAMS, "lr": 0.05}, data, metric="auc", max_epochs=12, patience=1)
    history = [h["auc"] for h in outcome.history]
    assert outcome.val["auc"] == max(history)
    assert outcome.best_epoch == int(np.argmax(history)) + 1
    assert outcome.epochs == len(history) <= outcome.best_epoch + 1
    model = FM.build(data.spec, PARAMS)
    model.load_state_dict(outcome.state_dict)
    val = metrics.compute("ctr", data.splits["val"]["label"].numpy(), predict(model, data.splits["val"]))
    assert val["auc"] == pytest.approx(outcome.val["auc"])          # the weights kept are the best epoch's
    calibrated = outcome.calibration.apply                                           # kept calibrated (ctr)
    assert np.allclose(outcome.outputs["val"], calibrated(predict(model, data.splits["val"])))   # the same epoch
    assert np.allclose(outcome.outputs["test"], calibrated(predict(model, data.splits["test"])))


def test_a_reporter_can_prune_and_then_test_is_not_scored():
    seen = []

    def reporter(epoch, value, val):
        seen.append((epoch, value))
        return Verdict.PRUNE if epoch == 2 else Verdict.GO_ON

    outcome = train_and_evaluate(FM, PARAMS, planted_ctr_data(), metric="auc", max_epochs=5, reporter=reporter)
    assert outcome.pruned and outcome.epochs == 2 and [e for e, _ in seen] == [1, 2]
    assert outcome.test == {} and math.isnan(outcome.latency_ms_per_1k)


def test_a_stop_from_the_reporter_keeps_the_best_epoch_and_scores_test():
    outcome = train_and_evaluate(FM, PARAMS, planted_ctr_data(), metric="auc", max_epochs=5,
                                 reporter=lambda epoch, value, val: Verdict.STOP if epoch == 2 else Verdict.GO_ON)
    assert not outcome.pruned and outcome.epochs == 2 and outcome.best_epoch in (1, 2)
    assert outcome.test["auc"] > 0.5 and outcome.notes == {TIME_LIMIT_NOTE: 2}


def test_a_diverging_configuration_ends_with_a_reason():
    card = REGISTRY["lr"]

    def explode(spec, params):
        model = card.build(spec, params)
        torch.nn.init.constant_(model.linear.bias, float("nan"))
        return model

    broken = dataclasses.replace(card, build=explode)
    with pytest.raises(TrainingDiverged, match="lower learning rate"):
        train_and_evaluate(broken, card.defaults, planted_ctr_data(), metric="auc", max_epochs=2)


def test_metrics_match_hand_computed_values():
    y = np.array([0, 0, 1, 1])
    logits = np.log(np.array([0.1, 0.6, 0.4, 0.9]) / (1 - np.array([0.1, 0.6, 0.4, 0.9])))
    ctr = metrics.compute("ctr", y, logits)
    assert ctr["auc"] == pytest.approx(0.75)
    assert ctr["logloss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))
    rating = metrics.compute("rating", np.array([1.0, 3.0]), np.array([2.0, 3.0]))
    assert rating["rmse"] == pytest.approx(np.sqrt(0.5)) and rating["mae"] == pytest.approx(0.5)
    assert math.isnan(metrics.compute("ctr", np.array([1, 1]), np.array([0.0, 1.0]))["auc"])
