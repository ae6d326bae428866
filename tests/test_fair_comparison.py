"""A fair comparison: the allocation of trials over models, pruning within a model, the per-trial
time cap, calibrated probabilities."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from sklearn.metrics import roc_auc_score
from synth import planted_ctr_data

from automl.evaluation import metrics
from automl.evaluation.calibration import Platt, cross_fitted, expected_calibration_error, fit_platt
from automl.search.allocation import MIN_TRIALS, next_model, standings, trial_time_cap_s
from automl.search.config import StudyConfig
from automl.search.sampling import WithinModelPruner
from automl.training.fit import train_and_evaluate
from automl.training.loop import TIME_CAP_NOTE, EpochLoop, make_optimizers
from automl.training.predict import predict
from models import REGISTRY

MODELS = ["lr", "fm", "deepfm", "nfm", "afm"]


def allocate(n_trials: int, models: list[str], quality: dict[str, float]) -> dict[str, int]:
    """Run the plan for ``n_trials`` trials; each model's best is its ``quality`` once it has a trial."""
    given: dict[str, int] = {}
    for _ in range(n_trials):
        best = {m: quality[m] for m in given}
        model = next_model(models, given, best, maximize=True)
        given[model] = given.get(model, 0) + 1
    return given


@settings(max_examples=60, deadline=None)
@given(n_trials=st.integers(1, 60), n_models=st.integers(1, 5), seed=st.integers(0, 1000))
def test_every_model_gets_its_fair_share_before_any_is_dropped(n_trials, n_models, seed):
    models = MODELS[:n_models]
    quality = dict(zip(models, np.random.default_rng(seed).random(n_models)))
    given = allocate(n_trials, models, quality)
    assert sum(given.values()) == n_trials
    floor = min(MIN_TRIALS, n_trials // n_models)
    assert all(given.get(m, 0) >= floor for m in models)


def test_further_trials_go_to_the_better_half_and_the_last_two_share_the_rest():
    quality = {"lr": 0.60, "fm": 0.70, "deepfm": 0.80, "nfm": 0.65, "afm": 0.75, "pnn": 0.78}
    given = allocate(60, list(quality), quality)
    assert given["lr"] == given["nfm"] == given["fm"] == MIN_TRIALS     # the worse half stops at rung 0
    assert given["afm"] == 2 * MIN_TRIALS                               # the next halving drops it
    assert given["deepfm"] + given["pnn"] == 60 - 3 * MIN_TRIALS - 2 * MIN_TRIALS
    assert abs(given["deepfm"] - given["pnn"]) <= 2 * MIN_TRIALS        # leader and challenger, rung by rung
    final = {s.model: s for s in standings(list(quality), given, quality, maximize=True)}
    assert final["lr"].dropped and final["afm"].dropped and not final["pnn"].dropped


def test_a_model_without_a_completed_trial_ranks_last_and_minimize_is_honoured():
    quality = {"lr": 0.45, "fm": 0.40}                          # logloss: fm is better
    given = {"lr": MIN_TRIALS, "fm": MIN_TRIALS, "afm": MIN_TRIALS}
    assert next_model(["lr", "fm", "afm"], given, quality, maximize=False) == "fm"


def test_the_time_cap_comes_from_the_trials_share_of_the_budget_unless_given():
    config = StudyConfig(models=["lr", "fm"], minutes=6, workers=2)       # 2 seeds: 80% of it for the trials
    assert trial_time_cap_s(config) == pytest.approx(2 * 0.8 * 6 * 60 * 2 / (MIN_TRIALS * 2))
    assert trial_time_cap_s(dataclasses.replace(config, trial_minutes=0.5)) == 30
    assert trial_time_cap_s(StudyConfig(models=["lr"], n_trials=5)) is None


def finished_trial(model: str, values: list[float]) -> optuna.trial.FrozenTrial:
    return create_trial(state=TrialState.COMPLETE, value=values[-1], params={"model": model},
                        distributions={"model": CategoricalDistribution(MODELS)},
                        intermediate_values=dict(enumerate(values, 1)))


def running(study: optuna.Study, model: str, value: float) -> optuna.trial.FrozenTrial:
    study.enqueue_trial({"model": model})
    trial = study.ask()
    trial.suggest_categorical("model", MODELS)
    trial.report(value, 1)
    trial.report(value, 2)
    return study.get_trials(deepcopy=False)[-1]


def test_pruning_never_compares_a_trial_with_another_models_curves():
    study = optuna.create_study(direction="maximize")
    for _ in range(6):
        study.add_trial(finished_trial("lr", [0.80, 0.80]))
    base = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    newcomer = running(study, "nfm", 0.60)
    assert base.prune(study, newcomer)                          # against lr's curves it would die
    assert not WithinModelPruner(base).prune(study, newcomer)   # against its own model's: none yet


def test_a_models_first_trials_are_protected_and_later_ones_pruned_within_the_model():
    study = optuna.create_study(direction="maximize")
    pruner = WithinModelPruner(optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    for _ in range(MIN_TRIALS - 1):
        study.add_trial(finished_trial("nfm", [0.70, 0.75]))
    assert not pruner.prune(study, running(study, "nfm", 0.50))     # its third trial: protected
    study.add_trial(finished_trial("nfm", [0.70, 0.75]))
    assert pruner.prune(study, running(study, "nfm", 0.50))         # a later one, worse than its own model


def counting_card(card, built: list):
    """``card`` whose models count their training batches (``model.batches``), kept in ``built``."""
    def build(spec, params):
        model = card.build(spec, params)
        model.batches, plain = 0, model.training_loss

        def counted(batch, loss_fn):
            model.batches += 1
            return plain(batch, loss_fn)

        model.training_loss = counted
        built.append(model)
        return model

    return dataclasses.replace(card, build=build)


def test_the_time_cap_ends_a_trial_inside_its_first_epoch():
    data = planted_ctr_data()
    built: list = []
    card, params = counting_card(REGISTRY["fm"], built), {**REGISTRY["fm"].defaults, "batch_size": 64}
    outcome = train_and_evaluate(card, params, data, metric="auc", max_epochs=50, patience=50, time_cap_s=0.0)
    batches_per_epoch = len(data.splits["train"]["label"]) // 64
    assert built[0].batches == 1 < batches_per_epoch               # cut after the batch that crossed the cap
    assert outcome.epochs == 1 and outcome.notes[TIME_CAP_NOTE] == 1
    assert outcome.val["auc"] > 0 and outcome.test["auc"] > 0     # the cut epoch is still judged


def overconfident(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(logits 6 times too large and shifted, labels drawn from the true probabilities)."""
    rng = np.random.default_rng(seed)
    true = rng.normal(-0.5, 1.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-true))).astype(np.float64)
    return 6.0 * true + 2.0, labels


def test_platt_scaling_repairs_an_overconfident_model_and_keeps_its_ranking():
    logits, labels = overconfident()
    platt = fit_platt(logits, labels)
    assert platt.scale == pytest.approx(1 / 6, rel=0.1) and platt.shift == pytest.approx(-2 / 6, abs=0.15)
    before, after = metrics.compute("ctr", labels, logits), metrics.compute("ctr", labels, platt.apply(logits))
    assert after["logloss"] < before["logloss"] - 0.3 and after["ece"] < 0.02 < before["ece"]
    assert after["auc"] == pytest.approx(before["auc"], abs=1e-12)


def test_cross_fitting_reports_an_honest_figure_and_keeps_the_identity_when_it_does_not_help():
    logits, labels = overconfident(4000)
    honest, platt = cross_fitted(logits, labels)
    full = metrics.logloss(labels, metrics.sigmoid(platt.apply(logits)))
    assert full <= metrics.logloss(labels, metrics.sigmoid(honest)) < metrics.logloss(labels, metrics.sigmoid(logits))
    true = (logits - 2.0) / 6.0                                  # the calibrated logits: nothing to gain
    same, identity = cross_fitted(true, labels)
    assert identity == Platt() and np.array_equal(same, true)


def test_the_epoch_loop_judges_calibrated_logloss_and_raw_auc():
    logits, labels = overconfident(6000)
    loop = EpochLoop("ctr", "logloss", labels, patience=2, reporter=None)
    loop.after_epoch(1, 0.5, logits, 0.0)
    val = loop.best_val
    assert val["auc"] == pytest.approx(roc_auc_score(labels, logits))
    assert val["logloss"] < val["logloss_raw"] - 0.3
    judged, kept = loop.judge_test(logits, labels)
    assert np.allclose(kept, loop.best_calibration.apply(logits))
    assert judged["logloss"] < judged["logloss_raw"] and judged["ece"] == pytest.approx(
        expected_calibration_error(labels, metrics.sigmoid(kept)))


def test_the_outputs_kept_for_ensembles_are_the_calibrated_ones():
    data = planted_ctr_data()
    card = REGISTRY["fm"]
    params = {**card.defaults, "lr": 0.05, "batch_size": 256}
    outcome = train_and_evaluate(card, params, data, metric="auc", max_epochs=6, patience=6)
    model = card.build(data.spec, params)
    model.load_state_dict(outcome.state_dict)
    assert outcome.calibration is not None
    for split in ("val", "test"):
        assert np.allclose(outcome.outputs[split], outcome.calibration.apply(predict(model, data.splits[split])))
    assert outcome.test["logloss"] <= outcome.test["logloss_raw"] + 0.01


def test_weight_decay_reaches_the_dense_weights_and_spares_embeddings_and_biases():
    data = planted_ctr_data(1000)
    card = REGISTRY["deepfm"]
    params = {**card.defaults, "weight_decay": 1e-4}
    model = card.build(data.spec, params)
    (optimizer,) = make_optimizers(model, params)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 1e-4 for p in g["params"]}
    spared = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0.0 for p in g["params"]}
    tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    linears = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}
    biases = {id(p) for p in model.parameters() if p.dim() == 1}
    assert linears and linears <= decayed and tables <= spared and biases <= spared
    assert decayed | spared == {id(p) for p in model.parameters()} and not decayed & spared
    plain = make_optimizers(model, {**params, "weight_decay": 0.0})[0]
    assert all(g["weight_decay"] == 0.0 for g in plain.param_groups)


def test_afm_attention_l2_penalises_the_attention_network_alone():
    data = planted_ctr_data(500)
    card = REGISTRY["afm"]
    batch = {k: v[:64] for k, v in data.splits["train"].items()}
    torch.manual_seed(0)
    plain = card.build(data.spec, {**card.defaults, "attention_l2": 0.0})
    torch.manual_seed(0)
    penalised = card.build(data.spec, {**card.defaults, "attention_l2": 1e-2, "l2": 0.0})
    plain(batch), penalised(batch)
    weight = penalised.attention.project.weight
    assert torch.isclose(penalised.aux_loss(), 1e-2 * weight.square().sum())
    (grad,) = torch.autograd.grad(penalised.aux_loss(), weight)
    assert torch.allclose(grad, 2e-2 * weight)
    assert plain.attention.penalty is None



@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=80))
def test_numpy_auc_and_logloss_equal_scikit_learn(rows):
    """Tied scores (few distinct values) included; one class gives NaN as before."""
    from sklearn.metrics import log_loss

    y = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows], dtype=np.float64) / 6
    if 0 < y.sum() < len(y):
        assert metrics.auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    else:
        assert np.isnan(metrics.auc(y, scores))
    p = np.clip(scores, 1e-7, 1 - 1e-7)
    assert metrics.logloss(y, p) == pytest.approx(log_loss(y, p, labels=[0, 1]), rel=1e-9)


def test_one_metric_equals_the_full_computation():
    rng = np.random.default_rng(0)
    y, z, users = rng.integers(0, 2, 500), rng.normal(size=500), rng.integers(0, 20, 500)
    full = metrics.compute("ctr", y, z, users)
    for name in ("auc", "logloss", "gauc"):
        assert metrics.value("ctr", name, y, z, users) == pytest.approx(full[name], abs=1e-12)
    ratings = rng.normal(3, 1, 100)
    assert metrics.value("rating", "rmse", ratings, ratings + 0.5) == pytest.approx(0.5)


def test_tpe_samples_only_the_options_of_the_trials_model():
    from optuna.distributions import FloatDistribution

    from automl.search.sampling import AllocatingSampler

    class Plan:
        def model_for(self, number, fixed=None):
            return fixed or ("fm" if number % 2 else "lr")

    class Base:
        def infer_relative_search_space(self, study, trial):
            return {"lr.lr": FloatDistribution(1e-4, 1e-1), "fm.lr": FloatDistribution(1e-4, 1e-1),
                    "fm.embed_dim": CategoricalDistribution([4, 8]), "model": CategoricalDistribution(["lr", "fm"])}

    sampler = AllocatingSampler(Base(), Plan())
    odd = create_trial(state=TrialState.RUNNING, params={}, distributions={})
    odd.number = 3
    assert set(sampler.infer_relative_search_space(None, odd)) == {"fm.lr", "fm.embed_dim"}
    queued = create_trial(state=TrialState.RUNNING, params={}, distributions={},
                          system_attrs={"fixed_params": {"model": "lr"}})
    queued.number = 3
    assert set(sampler.infer_relative_search_space(None, queued)) == {"lr.lr"}     # an enqueued default's model
