"""The contract every model card keeps, checked across the whole registry at once."""

from __future__ import annotations

import math
import os

import numpy as np
import optuna
import pytest
import torch
from synth import history_rating_data, planted_ctr_data, planted_history_data, planted_rating_data
from synth_cf import small_implicit_data

from automl.training.fit import train_and_evaluate
from automl.training.implicit import ImplicitFeed
from automl.training.predict import predict
from models import REGISTRY
from models.card import ScopedTrial, search_options

FAST_BATCH = 256
# benchmarks/gpu_check.sh runs the training contract on a GPU (and again under bf16 autocast)
DEVICE = torch.device(os.environ.get("CROSSBOARD_TEST_DEVICE", "cpu"))
PRECISION = os.environ.get("CROSSBOARD_TEST_PRECISION", "fp32")
SLOW_LR = 3e-3      # cards whose default lr is below this are tuned for long runs: two epochs use FAST_LR
FAST_LR = 0.01


def fast_params(card) -> dict:
    """The card's defaults at batch 256; a default lr tuned for long runs raised to FAST_LR so that
    two epochs show learning (the others keep theirs: BST's wide MLP diverges at 0.01 on ratings)."""
    if card.kind != "torch":
        return dict(card.defaults)
    lr = card.defaults["lr"]
    return {**card.defaults, "batch_size": FAST_BATCH, "lr": FAST_LR if lr < SLOW_LR else lr, "precision": PRECISION}
CASES = [(name, task) for name, card in REGISTRY.items() for task in sorted(card.tasks)]
STUDY_METRIC = {"ctr": "auc", "rating": "rmse", "implicit": "ndcg@10"}


def home_task(card) -> str:
    """A task the card supports, ctr when it can."""
    return "ctr" if "ctr" in card.tasks else min(card.tasks)


def data_for(task: str, card=None):
    """Planted data for ``task``; with a behavior history (a derived one) for cards that need it."""
    if task == "implicit":
        return small_implicit_data()
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
    data = data_for(task, card).to(DEVICE)
    params = fast_params(card)
    outcome = train_and_evaluate(card, params, data, metric=STUDY_METRIC[task], max_epochs=2, patience=5)
    labels = {s: data.splits[s]["label"].cpu().numpy() for s in ("train", "test")}
    assert outcome.epochs == (1 if card.kind == "baseline" else 2)
    if task == "implicit":                    # 49 sampled candidates: a random ranking expects HR@10 = 0.2
        assert all(0 <= v <= 1 for v in outcome.test.values())
        assert (outcome.val["hr@10"] + outcome.test["hr@10"]) / 2 > 0.3 or name == "random"
    elif task == "ctr":
        assert outcome.test["auc"] > 0.6
        assert outcome.test["logloss"] < constant_loss(task, labels["train"], labels["test"])
    else:
        assert outcome.test["rmse"] < 0.97 * constant_loss(task, labels["train"], labels["test"])
    assert (outcome.n_params > 0 or card.kind == "baseline") and outcome.latency_ms_per_1k > 0


@pytest.mark.parametrize("name", list(REGISTRY))
def test_enqueued_defaults_are_what_the_search_space_reads(name):
    card = REGISTRY[name]
    enqueued = card.enqueue_params()
    trial = optuna.trial.FixedTrial(enqueued)
    params = card.search_space(ScopedTrial(trial, name), data_for(home_task(card), card).spec)
    assert trial.suggest_categorical("model", [name]) == name
    for key, value in card.defaults.items():
        assert params[key] == value, key


@pytest.mark.parametrize("name", list(REGISTRY))
def test_sampled_configurations_build_and_predict(name):
    card = REGISTRY[name]
    data = data_for(home_task(card), card)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(3):
        trial = study.ask()
        params = card.search_space(ScopedTrial(trial, name), data.spec)
        model = card.build(data.spec, params)
        if card.kind != "trees":
            batch = {k: v[:64] for k, v in data.splits["val"].items()}
            model.eval()
            out = model(batch)
            assert out.shape == (64,) and torch.isfinite(out).all()
        study.tell(trial, 0.5)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_card_describes_itself(name):
    card = REGISTRY[name]
    options = search_options(card)
    assert options or card.kind == "baseline", "a searchable model exposes options"
    assert all(o["type"] in ("categorical", "int", "float") for o in options.values())
    assert card.describe()["name"] == name and card.title and card.family
    reason = card.unavailable_reason("ctr", {"fields"})
    assert reason is None or "needs" in reason or "does not support the ctr task" in reason


@pytest.mark.parametrize("name", ["deepfm", "fm", "pnn"])
def test_numeric_mode_is_searched_only_where_the_data_has_numeric_columns(name):
    card = REGISTRY[name]
    with_numeric, without = planted_ctr_data().spec, planted_rating_data().spec
    assert with_numeric.numeric and not without.numeric
    assert "numeric_mode" in card.search_space(ScopedTrial(optuna.trial.FixedTrial(card.enqueue_params()), name),
                                               with_numeric)
    assert "numeric_mode" not in card.search_space(ScopedTrial(optuna.trial.FixedTrial(card.enqueue_params()), name),
                                                   without)


@pytest.mark.parametrize("name", [n for n, c in REGISTRY.items() if c.kind == "torch"])
def test_stored_weights_load_into_a_fresh_model_and_predict_the_same(name):
    card = REGISTRY[name]
    task = home_task(card)
    data = data_for(task, card).to(DEVICE)
    params = fast_params(card)
    outcome = train_and_evaluate(card, params, data, metric=STUDY_METRIC[task], max_epochs=1, patience=1)
    fresh = card.build(data.spec, params).to(DEVICE)
    fresh.load_state_dict(outcome.state_dict)
    if task == "implicit":
        again = ImplicitFeed(fresh, params, data).outputs("val")
    else:
        again = predict(fresh, data.splits["val"])
    if outcome.calibration is not None:                 # ctr outputs are kept calibrated, as stored with the weights
        again = outcome.calibration.apply(again)
    np.testing.assert_allclose(again, outcome.outputs["val"], rtol=1e-5, atol=1e-6)
