"""Feature-interaction diagnostics: the mixed difference's math, planted pairs recovered by the
agnostic method and by the models' own views, noise fields ranked low, DIN's attention on the
history steps that matter, storage and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import crossboard
from synth import PLANTED_PAIRS, history_ctr_data, planted_pairs_data, planted_pairs_frame

from automl.diagnostics.agnostic import Settings, field_importance, pair_interactions
from automl.diagnostics.fields import schema_fields, with_values_of
from automl.diagnostics.trial import diagnose
from automl.training.fit import train_and_evaluate
from models import REGISTRY
from storage import Store

PLANTED = {frozenset(p) for p in PLANTED_PAIRS}
INTRINSIC = {"fm": "fm", "deepfm": "fm", "nfm": "bi_interaction", "pnn": "products", "afm": "afm",
             "dcnv2": "cross_weights"}


TRUTH_ROWS = 12_000     # enough for FM to keep the two planted tables apart


def fitted(name: str, data, epochs: int = 12, **options):
    card = REGISTRY[name]
    return train_and_evaluate(card, {**card.defaults, **options}, data, metric="auc", max_epochs=epochs,
                              patience=3).model


def test_fields_cover_every_slot_and_replacement_touches_only_the_chosen_field():
    data = planted_pairs_data()
    val = data.splits["val"]
    fields = {f.name: f for f in schema_fields(data.spec, val)}
    assert set(fields) == {"colour", "shape", "region", "channel", "brand", "noise_a", "noise_b", "level"}
    assert {key for key, _ in fields["level"].slots} == {"num", "num_bkt"}
    rows = {k: v[:50] for k, v in val.items()}
    reference = {k: v[50:100] for k, v in val.items()}
    mixed = with_values_of(rows, reference, [fields["level"], fields["shape"]])
    j = [f.name for f in data.spec.fields].index("shape")
    assert torch.equal(mixed["cat"][:, j], reference["cat"][:, j])
    others = [i for i in range(data.spec.n_fields) if i != j]
    assert torch.equal(mixed["cat"][:, others], rows["cat"][:, others])
    assert torch.equal(mixed["num"], reference["num"]) and torch.equal(mixed["num_bkt"], reference["num_bkt"])
    assert not torch.equal(rows["cat"][:, j], reference["cat"][:, j])     # the inputs themselves untouched


def test_the_mixed_difference_is_exactly_zero_for_an_additive_model_and_not_for_a_product():
    data = planted_pairs_data()
    val = {k: v[:600] for k, v in data.splits["val"].items()}
    fields = schema_fields(data.spec, val)
    cat = lambda b, name: b["cat"][:, [f.name for f in data.spec.fields].index(name)].double().numpy()

    def additive(b):
        return 0.25 * cat(b, "colour") - 0.5 * cat(b, "shape") + 2.0 * cat(b, "region")

    def product(b):
        return additive(b) + cat(b, "colour") * cat(b, "shape")

    everything = list(range(len(fields)))
    flat = pair_interactions(additive, val, fields, everything, Settings(pair_rows=200, repeats=2))
    assert all(p["strength"] == 0.0 and p["high"] == 0.0 for p in flat)
    ranked = pair_interactions(product, val, fields, everything, Settings(pair_rows=200, repeats=2))
    assert set(ranked[0]["fields"]) == {"colour", "shape"} and ranked[0]["low"] > 0
    assert all(p["strength"] == 0.0 for p in ranked[1:])


def test_a_trained_additive_model_shows_no_pair():
    data = planted_pairs_data()
    pairs = diagnose(fitted("lr", data, epochs=3), data)["pairs"]
    assert max(p["strength"] for p in pairs) < 1e-6


def test_importance_ranks_the_noise_fields_in_the_lower_half_and_the_band_holds_the_mean():
    data = planted_pairs_data()
    fields = schema_fields(data.spec, data.splits["val"])
    ranked = field_importance(lambda b: oracle_logit(data, b), data.splits["val"], fields, "ctr", Settings())
    names = [r["field"] for r in ranked]
    assert {"noise_a", "noise_b"} <= set(names[len(names) // 2:])
    assert all(r["low"] <= r["importance"] <= r["high"] for r in ranked)


def oracle_logit(data, batch) -> np.ndarray:
    """A scorer that reads only colour × shape and region × channel (through their codes)."""
    names = [f.name for f in data.spec.fields]
    code = {n: batch["cat"][:, names.index(n)].double().numpy() for n in names}
    return np.sin(code["colour"] * 1.7 + code["shape"] * code["colour"]) + np.cos(code["region"] * code["channel"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fm", "deepfm", "nfm", "pnn", "afm", "dcnv2", "gbdt"])
def test_the_planted_pairs_rank_first_agnostic_and_intrinsic(name):
    data = planted_pairs_data(TRUTH_ROWS)
    result = diagnose(fitted(name, data), data)
    top = {frozenset(p["fields"]) for p in result["pairs"][:2]}
    assert top == PLANTED, result["pairs"][:4]
    if name in INTRINSIC:
        own = result["intrinsic"][INTRINSIC[name]]
        assert {frozenset(p["fields"]) for p in own[:2]} == PLANTED, own[:4]
        assert result["agreement"][INTRINSIC[name]] > 0
    names = [f["field"] for f in result["fields"]]
    assert {"noise_a", "noise_b"} <= set(names[len(names) // 2:])


@pytest.mark.slow
def test_din_attends_to_history_steps_that_share_the_candidates_category():
    data = history_ctr_data()
    result = diagnose(fitted("din", data, epochs=6), data)
    attention = result["attention"]["by_attribute"]["item_category"]
    assert attention["same_steps"] > 50 and attention["same"] > 1.2 * attention["other"]
    assert len(result["attention"]["by_recency"]) == data.spec.history.max_len


@pytest.mark.slow
def test_tune_stores_diagnostics_of_each_models_best_and_diagnose_reads_them(home, tmp_path):
    path = tmp_path / "planted.csv"
    planted_pairs_frame(8000, seed=1).to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "planted").returncode == 0
    tune = crossboard(home, "tune", "planted", "--models", "fm,gbdt", "--trials", "4", "--workers", "1",
                      "--epochs", "10", "--seeds", "0", "--name", "diag", timeout=600)
    assert tune.returncode == 0, tune.stdout + tune.stderr
    best = json.loads(crossboard(home, "diagnose", "diag", "--model", "gbdt", "--json").stdout)
    assert best["model"] == "gbdt" and {frozenset(p["fields"]) for p in best["pairs"][:2]} == PLANTED
    assert {"field", "importance", "low", "high"} <= set(best["fields"][0])
    study = json.loads(crossboard(home, "diagnose", "diag", "--json").stdout)
    assert {frozenset(p["fields"]) for p in study["consensus"][:2]} == PLANTED
    assert {"consensus", "options", "importance"} <= set(study)
    board = json.loads(crossboard(home, "leaderboard", "diag", "--format", "json").stdout)
    fm_best = json.loads(crossboard(home, "diagnose", "diag", "--model", "fm", "--json").stdout)["trial"]
    other = next(r["trial"] for r in board if r["state"] == "COMPLETE" and r["model"] == "fm"
                 and r["trial"] != fm_best)
    on_demand = crossboard(home, "diagnose", "diag", "--trial", str(other))
    assert on_demand.returncode == 0 and "field pairs" in on_demand.stdout
    store = Store()
    store.save_diagnostics(store.find_study("diag").id, other, "fm", json.dumps({"error": "ValueError: boom"}))
    failed = crossboard(home, "diagnose", "diag", "--trial", str(other))
    assert failed.returncode == 2 and "boom" in failed.stderr and "--again" in failed.stderr
    recomputed = crossboard(home, "diagnose", "diag", "--trial", str(other), "--again")
    assert recomputed.returncode == 0 and "field pairs" in recomputed.stdout
    refused = crossboard(home, "diagnose", "diag", "--trial", "999")
    assert refused.returncode == 2 and "no trial 999" in refused.stderr
    again = crossboard(home, "tune", "planted", "--models", "wide_deep", "--trials", "1", "--workers", "1",
                       "--epochs", "1", "--seeds", "0", "--crosses-from", "diag", "--name", "again", timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    crossed = json.loads(store.find_study("again").config_json)["diagnosed_pairs"]
    assert {frozenset(p) for p in crossed[:2]} == PLANTED
