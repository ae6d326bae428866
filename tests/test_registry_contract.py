"""The contract every model card keeps, checked across the whole registry at once."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
import torch
from synth import history_rating_data, planted_ctr_data, planted_history_data, planted_rating_data

from automl.train import train_and_evaluate
from models import REGISTRY
from models.card import ScopedTrial, search_options

FAST = {"lr": 0.01, "batch_size": 256}
CASES = [(name, task) for name, card in REGISTRY.items() for task in sorted(card.tasks)]


def data_for(task: str, card=None):
    """Planted data for ``task``; with a behavior history (a derived one) for cards that need it."""
    if card is not None and "history" in card.requires:
        return planted_history_data() if task == "ctr" else history_rating_data()
    return planted_ctr_data() if task == "ctr" else planted_rating_data()


def constant_loss(task: str, train_labels: np.ndarray, test_labels: np.ndarray) -> float:
    """Logloss (ctr) or RMSE (rating) of always predicting the training mean."""
    mean = float(train_labels.mean())
    if task == "ctr":
        return float(-(test_labels * math.log(mean) + (1 - test_labels) * math.log(1 - mean)).mean())
    return float(np.sqrt(((test_labels - mean) ** 2).mean()))


@pytest.mark.parametrize("name,task", CASES)
def test_trains_two_epochs_and_beats_a_constant_predictor(name, task):
    card = REGISTRY[name]
    data = data_for(task, card)
    params = {**card.defaults, **(FAST if card.kind == "torch" else {})}
    outcome = train_and_evaluate(card, params, data, metric="auc" if task == "ctr" else "rmse",
                                 max_epochs=2, patience=5)
    labels = {s: data.splits[s]["label"].numpy() for s in ("train", "test")}
    baseline = constant_loss(task, labels["train"], labels["test"])
    assert outcome.epochs == 2
    if task == "ctr":
        assert outcome.test["auc"] > 0.6
        assert outcome.test["logloss"] < baseline
    else:
        assert outcome.test["rmse"] < 0.97 * baseline
    assert outcome.n_params > 0 and outcome.latency_ms_per_1k > 0


@pytest.mark.parametrize("name", list(REGISTRY))
def test_enqueued_defaults_are_what_the_search_space_reads(name):
    card = REGISTRY[name]
    enqueued = card.enqueue_params()
    trial = optuna.trial.FixedTrial(enqueued)
    params = card.search_space(ScopedTrial(trial, name), data_for("ctr", card).spec)
    assert trial.suggest_categorical("model", [name]) == name
    for key, value in card.defaults.items():
        assert params[key] == value, key


@pytest.mark.parametrize("name", list(REGISTRY))
def test_sampled_configurations_build_and_predict(name):
    card = REGISTRY[name]
    data = data_for("ctr", card)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(3):
        trial = study.ask()
        params = card.search_space(ScopedTrial(trial, name), data.spec)
        model = card.build(data.spec, params)
        if card.kind == "torch":
            batch = {k: v[:64] for k, v in data.splits["val"].items()}
            model.eval()
            out = model(batch)
            assert out.shape == (64,) and torch.isfinite(out).all()
        study.tell(trial, 0.5)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_card_describes_itself(name):
    card = REGISTRY[name]
    options = search_options(card)
    assert options, "a searchable model exposes options"
    assert all(o["type"] in ("categorical", "int", "float") for o in options.values())
    assert card.describe()["name"] == name and card.title and card.family
    assert card.unavailable_reason("ctr", {"fields"}) is None or "needs" in card.unavailable_reason("ctr", {"fields"})
