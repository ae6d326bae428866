"""Ensembles of a study's best trials: Caruana's greedy selection, the blend scales, and the
outputs kept in the database beside each model's best weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synth import planted_ctr_data, planted_rating_data

from automl.evaluation import ensemble, metrics
from automl.reporting.leaderboard import ensemble_record
from automl.search import ensembles
from storage.tables import ArtifactRow, DatasetRow, StudyRow, TrialResultRow


def rmse_score(y: np.ndarray):
    return lambda mean: -float(np.sqrt(np.mean((mean - y) ** 2)))


def test_greedy_selection_pairs_members_whose_errors_cancel():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 3.0])
    wiggle = 0.5 * np.array([1, -1, 1, -1, 1, -1])
    candidates = {"low": y - wiggle, "high": y + wiggle, "shifted": y + 0.6}
    bag = ensemble.greedy_bag(candidates, rmse_score(y), rounds=10)
    assert "shifted" not in bag and bag["low"] == bag["high"] == 1      # later rounds cannot beat exact
    blended = sum(c * candidates[n] for n, c in bag.items()) / bag.total()
    assert np.allclose(blended, y)


def test_members_whose_errors_cancel_win_on_test_though_chosen_on_validation():
    """Two planted members err in opposite directions on every row of both splits (a third is
    biased): the blend chosen on validation beats every member on the test rows it never saw."""
    rng = np.random.default_rng(0)
    labels = {split: rng.normal(3.5, 1.0, 400) for split in ("val", "test")}
    wiggle = {split: rng.choice([-0.6, 0.6], 400) for split in labels}
    members = {"low": {s: labels[s] - wiggle[s] for s in labels}, "high": {s: labels[s] + wiggle[s] for s in labels},
               "biased": {s: labels[s] + 0.5 for s in labels}}
    _, _, test = ensemble.select("rating", "rmse", members, labels, {"val": None, "test": None})
    best_member = min(float(np.sqrt(np.mean((m["test"] - labels["test"]) ** 2))) for m in members.values())
    assert test["rmse"] < 0.5 * best_member


@pytest.mark.parametrize("seed", range(5))
def test_the_kept_bag_never_scores_worse_than_the_best_single_member(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=200)
    candidates = {f"m{i}": y + rng.normal(scale=0.3 + 0.2 * i, size=200) + rng.normal() * 0.1 for i in range(4)}
    score = rmse_score(y)
    bag = ensemble.greedy_bag(candidates, score, rounds=15)
    blended = sum(c * candidates[n] for n, c in bag.items()) / bag.total()
    assert score(blended) >= max(score(v) for v in candidates.values())
    assert 1 <= bag.total() <= 15


def test_ctr_members_are_averaged_as_probabilities_and_scored_as_a_logit():
    logits = np.array([-3.0, 0.0, 2.5])
    assert np.allclose(ensemble.from_blend_scale("ctr", ensemble.to_blend_scale("ctr", logits)), logits)
    y = np.array([0.0, 1.0, 1.0, 0.0])
    members = {"a": {"val": np.array([-2.0, 1.0, 0.5, 0.2]), "test": np.array([0.1, 0.2, 0.3, -0.1])},
               "b": {"val": np.array([-1.0, 3.0, -0.5, -0.3]), "test": np.array([0.0, 1.0, 2.0, -2.0])}}
    bag, val, test = ensemble.select("ctr", "logloss", members, {"val": y, "test": y}, {"val": None, "test": None})
    mean = sum(c * metrics.sigmoid(members[n]["test"]) for n, c in bag.items()) / bag.total()
    assert test["logloss"] == pytest.approx(metrics.compute("ctr", y, np.log(mean / (1 - mean)))["logloss"])
    assert val["logloss"] <= min(metrics.compute("ctr", y, m["val"])["logloss"] for m in members.values()) + 1e-12


def test_outputs_rows_are_kept_for_the_verdict_unless_oversized(monkeypatch):
    outputs = {"val": np.zeros(3), "test": np.zeros(4)}
    assert ensembles.keeps_outputs("rating", outputs) and ensembles.keeps_outputs("ctr", outputs)
    ranks = {**outputs, "test_full": np.arange(1.0, 3.0)}          # implicit: ranks, for the verdict only
    assert ensembles.keeps_outputs("implicit", ranks) and not ensembles.keeps_outputs("rating", None)
    assert set(ensembles.decode_outputs(ensembles.encode_outputs(ranks))) == {"val", "test", "test_full"}
    monkeypatch.setattr(ensembles, "MAX_OUTPUT_ROWS", 6)
    assert not ensembles.keeps_outputs("rating", outputs) and not ensembles.keeps_outputs("implicit", ranks)


def make_study(store, metric: str, task: str) -> StudyRow:
    store.add_dataset(DatasetRow(id="d" * 64, name="synthetic", filename="s.csv", file_format="csv", n_rows=1,
                                 n_cols=1, parquet_bytes=0, schema_json="{}"), b"")
    return store.add_study(StudyRow(name="s", optuna_name="s", dataset_id="d" * 64, task=task, metric=metric,
                                    direction=metrics.direction(metric), config_json="{}"))


def keep(store, study, model: str, trial: int, value: float, outputs: dict) -> bool:
    row = ArtifactRow(study_id=study.id, model=model, trial_number=trial, value=value, config_json="{}",
                      weights=b"w", sha256="0" * 64)
    result = TrialResultRow(study_id=study.id, trial_number=trial, model=model, state="COMPLETE", params_json="{}")
    return store.finish_trial(result, row, maximize=False, outputs=ensembles.encode_outputs(outputs))


def test_a_study_ensemble_is_built_from_each_models_best_outputs_and_read_back(store):
    data = planted_rating_data()
    y = {s: data.splits[s]["label"].numpy().astype(np.float64) for s in ("val", "test")}
    rng = np.random.default_rng(0)
    noisy = {n: {s: y[s] + rng.normal(scale=0.6, size=len(y[s])) for s in y} for n in ("mf", "fm", "lr")}
    study = make_study(store, "rmse", "rating")
    assert keep(store, study, "mf", 0, 0.7, noisy["mf"]) and keep(store, study, "fm", 1, 0.7, noisy["fm"])
    assert not keep(store, study, "fm", 2, 0.9, noisy["lr"])            # not fm's best: outputs unchanged
    assert ensembles.refresh(store, study, data) is not None
    record = ensemble_record(store, study)
    assert record["model"] == "ensemble" and record["state"] == "ENSEMBLE"
    assert set(record["params"]["weights"]) == {"mf", "fm"} and record["params"]["trials"] == {"mf": 0, "fm": 1}
    assert sum(record["params"]["weights"].values()) == pytest.approx(1.0)
    singles = [metrics.compute("rating", y["test"], noisy[n]["test"])["rmse"] for n in ("mf", "fm")]
    assert record["test"]["rmse"] < min(singles) - 0.05                # independent errors average out
    json.dumps(record)


def test_no_ensemble_until_two_models_have_outputs(store):
    data = planted_ctr_data()
    outputs = {s: np.zeros(len(data.splits[s]["label"])) for s in ("val", "test")}
    study = make_study(store, "auc", "ctr")
    keep(store, study, "fm", 0, 0.5, outputs)
    assert ensembles.refresh(store, study, data) is None and ensemble_record(store, study) is None
    keep(store, study, "lr", 1, 0.5, outputs)
    assert ensembles.refresh(store, study, data) is not None


def test_a_validation_metric_that_is_undefined_everywhere_still_gives_a_bag():
    bag = ensemble.greedy_bag({"a": np.zeros(3), "b": np.ones(3)}, lambda mean: -np.inf, rounds=3)
    assert bag.total() == 1
