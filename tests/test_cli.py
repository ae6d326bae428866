"""The headless path: ingest a CSV with unfamiliar names, tune with two workers, read the
leaderboard; and bad input ends with a message and status 2, never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import crossboard

from automl.data.demo import demo_frame
from storage import Store


def unfamiliar(n_rows: int = 3000) -> pd.DataFrame:
    """The demo log with names CrossBoard has never seen."""
    frame = demo_frame(n_rows=n_rows, n_users=100, n_items=60, seed=5)
    return frame.rename(columns={"user_id": "member", "item_id": "sku", "item_category": "aisle",
                                 "user_segment": "tier", "age_group": "bracket", "device": "surface",
                                 "hour": "hr", "price": "cost", "timestamp": "seen_at", "click": "converted"})


@pytest.mark.slow
def test_ingest_tune_leaderboard_end_to_end(home, tmp_path):
    path = tmp_path / "held_out.csv"
    unfamiliar(6000).to_csv(path, index=False)
    ingest = crossboard(home, "ingest", str(path), "--name", "held", "--role", "member=user", "--role", "sku=item")
    assert ingest.returncode == 0, ingest.stderr
    assert "converted" in ingest.stdout and "ctr" in ingest.stdout

    tune = crossboard(home, "tune", "held", "--models", "lr,fm,deepfm,gbdt", "--trials", "6", "--workers", "2",
                      "--epochs", "8", "--name", "e2e", timeout=600)
    assert tune.returncode == 0, tune.stdout + tune.stderr
    assert "trials" in tune.stdout and "val_auc" in tune.stdout

    board = crossboard(home, "leaderboard", "e2e", "--format", "json")
    records = json.loads(board.stdout)
    assert {"trial", "model", "state", "params", "val", "test", "n_params", "train_seconds"} <= set(records[0])
    done = [r for r in records if r["state"] == "COMPLETE"]
    assert {r["model"] for r in done} == {"lr", "fm", "deepfm", "gbdt"}   # each default trial ran
    best = max(done, key=lambda r: r["val"]["auc"])
    best_lr = max(r["val"]["auc"] for r in done if r["model"] == "lr")
    assert best["model"] != "lr" and best["val"]["auc"] > best_lr + 0.02
    assert set(best["test"]) == {"auc", "gauc", "logloss", "logloss_raw", "ece"} and 0.5 < best["test"]["auc"] <= 1
    study = Store().find_study("e2e")                # every model's best outputs, GBDT's included
    assert {r.model for r in Store().best_outputs(study.id)} == {"lr", "fm", "deepfm", "gbdt"}
    blend = records[-1]                  # the ensemble: each member is its model's best trial, weights sum to 1
    assert blend["model"] == "ensemble" and sum(blend["params"]["weights"].values()) == pytest.approx(1)
    for model, trial in blend["params"]["trials"].items():
        assert trial == max((r for r in done if r["model"] == model), key=lambda r: r["val"]["auc"])["trial"]

    csv = crossboard(home, "leaderboard", "e2e", "--format", "csv")
    assert csv.stdout.splitlines()[0].startswith("trial,model,state,val_auc")


def test_models_json_lists_every_card_with_options(home):
    done = crossboard(home, "models", "--json")
    cards = json.loads(done.stdout)
    names = {c["name"] for c in cards}
    assert {"lr", "fm", "deepfm", "wide_deep", "gbdt"} <= names
    wide = next(c for c in cards if c["name"] == "wide_deep")
    assert {"n_crosses", "wide_optimizer", "hidden"} <= set(wide["options"])


@pytest.mark.parametrize("args,expected", [
    (["ingest", "{missing}"], "no such file"),
    (["ingest", "{empty}"], "empty"),
    (["ingest", "{one_class}"], "both"),
    (["ingest", "{ok}", "--role", "nosuchcol=user"], "nosuchcol"),
    (["ingest", "{ok}", "--label", "nosuchcol"], "nosuchcol"),
    (["tune", "nosuchdataset"], "no dataset called"),
    (["leaderboard", "nosuchstudy"], "no study called"),
])
def test_bad_input_gives_a_message_and_status_2(home, tmp_path, args, expected):
    files = {"missing": tmp_path / "absent.csv", "empty": tmp_path / "empty.csv",
             "one_class": tmp_path / "one.csv", "ok": tmp_path / "ok.csv"}
    files["empty"].write_bytes(b"")
    pd.DataFrame({"user": np.arange(50) % 7, "click": 1}).to_csv(files["one_class"], index=False)
    pd.DataFrame({"user": np.arange(50) % 7, "click": np.arange(50) % 2}).to_csv(files["ok"], index=False)
    done = crossboard(home, *[a.format(**files) for a in args])
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert crossboard(home, "datasets").stdout.strip() == ""      # nothing half-written


def test_tune_refuses_an_unknown_model_and_leaves_no_study(home, tmp_path, store):
    path = tmp_path / "ok.csv"
    pd.DataFrame({"user": np.arange(60) % 7, "item": np.arange(60) % 5, "click": np.arange(60) % 2}).to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "ok").returncode == 0
    done = crossboard(home, "tune", "ok", "--models", "lr,nosuchmodel", "--trials", "2")
    assert done.returncode == 2 and "nosuchmodel" in done.stderr
    assert store.studies() == []


def test_select_logloss_chooses_trials_on_calibrated_logloss(home, tmp_path):
    path = tmp_path / "log.csv"
    unfamiliar(1500).to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "sel").returncode == 0
    tune = crossboard(home, "tune", "sel", "--models", "lr", "--trials", "2", "--workers", "1", "--epochs", "2",
                      "--seeds", "0", "--select", "logloss", "--name", "by_logloss", timeout=300)
    assert tune.returncode == 0, tune.stdout + tune.stderr
    study = Store().find_study("by_logloss")
    assert study.metric == "logloss" and study.direction == "minimize"
