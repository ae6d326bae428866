"""Using the winner: new rows encoded with the study's fitted encoder (exactly as the training rows
were), scored by a stored model or the ensemble, calibrated like the leaderboard's figures."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from cli_helpers import ROOT, crossboard
from synth import history_click_frame

from automl.data import datasets
from automl.data.demo import demo_frame
from automl.data.timestamps import timestamps_of
from automl.errors import DataError
from automl.evaluation.metrics import auc, sigmoid
from automl.features.encode import encode
from automl.features.fitted import Encoder, keep_newest_events
from automl.features.prepare import stored_split
from automl.features.splits import make_split
from automl.search.ensembles import decode_outputs, stored
from storage import Store


def rich_frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Codes, text with gaps, counts with gaps, a tag list, a mixed-type column and a timestamp."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "click": rng.integers(0, 2, n), "user_id": rng.integers(0, 200, n), "C1": rng.integers(0, 40, n) * 7,
        "site": rng.choice(["news", "mail", None], n), "I1": np.where(rng.random(n) < 0.1, np.nan, rng.poisson(3, n)),
        "price": rng.random(n), "tags": ["|".join(rng.choice(list("abcdef"), 1 + i % 3)) for i in range(n)],
        "mixed": pd.Series(rng.choice(["12", "x", "7"], n), dtype=object),
        "ts": 1_600_000_000 + rng.integers(0, 3_000_000, n),
    })
    frame.loc[0, "mixed"] = 12
    return frame


def test_the_fitted_encoder_encodes_the_training_rows_exactly_as_encoding_did():
    frame = rich_frame()
    schema = replace(datasets.inspect(frame.to_csv(index=False).encode(), "rich.csv").schema, time_fields=True)
    assert schema.column("tags").role == "sequence" and schema.column("ts").role == "timestamp"
    assignment, _ = make_split(frame["click"].to_numpy(), "ctr", None)
    data = encode(frame, schema, assignment)
    encoder = Encoder.from_json(data.encoder.to_json())                 # what an export writes and reads
    for i, split in enumerate(("train", "val", "test")):
        arrays, unseen = encoder.apply(frame[assignment == i].reset_index(drop=True))
        for key, tensor in data.splits[split].items():
            if key != "label":
                assert np.array_equal(arrays[key], tensor.numpy()), (split, key)
        if split == "train":
            assert not any(unseen.values())
    assert [f.name for f in encoder.fields][-2:] == ["ts hour", "ts weekday"]


def test_unseen_values_and_missing_numbers_are_encoded_as_in_training_and_counted():
    frame = rich_frame()
    schema = datasets.inspect(frame.to_csv(index=False).encode(), "rich.csv").schema
    data = encode(frame, schema, np.zeros(len(frame), np.int8))
    new = frame.head(4).copy()
    new["C1"] = [7, 99_999, 14, 123_456]             # two codes training never saw
    new["I1"] = [np.nan, 1.0, np.nan, 2.0]
    arrays, unseen = data.encoder.apply(new)
    fields = [f.name for f in data.spec.fields]
    assert arrays["cat"][:, fields.index("C1")].tolist()[1::2] == [0, 0] and unseen["C1"] == 2
    numeric = list(data.spec.numeric)
    assert arrays["num"][[0, 2], numeric.index("I1")].tolist() == [0.0, 0.0]
    assert arrays["num"][:, numeric.index("I1 is missing")].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert arrays["num_bkt"][[0, 2], numeric.index("I1")].tolist() == [0, 0]
    with pytest.raises(DataError, match="lacks the columns 'site', 'price'"):
        data.encoder.apply(new.drop(columns=["site", "price"]))


@pytest.fixture(scope="module")
def scored_study(tmp_path_factory):
    home = tmp_path_factory.mktemp("scoring")
    frame = demo_frame(n_rows=3000, n_users=80, n_items=50, seed=3)
    path = home / "clicks.csv"
    frame.to_csv(path, index=False)
    done = crossboard(home, "ingest", str(path), "--name", "clicks", "--time-fields")
    assert done.returncode == 0, done.stderr
    done = crossboard(home, "tune", "clicks", "--models", "lr,fm,gbdt", "--trials", "3", "--workers", "1",
                      "--epochs", "3", "--seeds", "0", "--name", "scored", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    store = Store(f"sqlite:///{home / 'crossboard.db'}")
    row = store.find_dataset("clicks")
    test_rows = pd.read_csv(path)[stored_split(store, row, home) == 2]
    test_rows.to_csv(home / "test_rows.csv", index=False)
    return home, store, store.find_study("scored"), test_rows


@pytest.mark.parametrize("model", ["fm", "gbdt"])
def test_predict_gives_the_stored_models_calibrated_test_probabilities(scored_study, model):
    home, store, study, test_rows = scored_study
    done = crossboard(home, "predict", "scored", str(home / "test_rows.csv"), "--model", model,
                      "--out", str(home / f"{model}.csv"))
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(home / f"{model}.csv")
    assert list(scored.columns) == [*test_rows.columns, "probability"] and len(scored) == len(test_rows)
    kept = next(r for r in store.best_outputs(study.id) if r.model == model)
    expected = sigmoid(decode_outputs(kept.outputs)["test"])
    assert np.allclose(scored["probability"], expected, atol=1e-5)
    assert f"{model} (trial {kept.trial_number})" in done.stderr


def test_predict_with_the_ensemble_blends_its_members(scored_study):
    home, store, study, _ = scored_study
    done = crossboard(home, "predict", "scored", str(home / "test_rows.csv"), "--ensemble")
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(io.StringIO(done.stdout))
    ensemble = stored(store, study.id)
    outputs = {r.model: decode_outputs(r.outputs)["test"] for r in store.best_outputs(study.id)}
    expected = sum(w * sigmoid(outputs[m]) for m, w in ensemble.weights.items())
    assert np.allclose(scored["probability"], expected, atol=1e-5)


def test_predict_counts_unseen_values_and_names_a_missing_column(scored_study):
    home, _, _, test_rows = scored_study
    changed = test_rows.head(50).assign(item_id=-7)
    changed.to_csv(home / "unseen.csv", index=False)
    done = crossboard(home, "predict", "scored", str(home / "unseen.csv"), "--model", "fm")
    assert done.returncode == 0, done.stderr
    assert "item_id: 50 of 50 rows (100.0%) hold values training never saw" in done.stderr
    test_rows.drop(columns=["price"]).to_csv(home / "short.csv", index=False)
    done = crossboard(home, "predict", "scored", str(home / "short.csv"))
    assert done.returncode == 2 and "lacks the column 'price'" in done.stderr and "Traceback" not in done.stderr
    done = crossboard(home, "predict", "scored", str(home / "short.csv"), "--trial", "999")
    assert done.returncode == 2 and "trial 999" in done.stderr


def test_scores_are_the_same_in_chunks(scored_study, monkeypatch):
    from automl.serving import score

    home, store, study, test_rows = scored_study
    whole = score.study_scorer(store, study, home, model="fm")
    expected = whole.score(test_rows.reset_index(drop=True))
    monkeypatch.setattr(score, "CHUNK_ROWS", 7)
    parts = []
    chunked = score.study_scorer(store, study, home, model="fm")
    score.score_file(chunked, home / "test_rows.csv", home / "incoming", lambda chunk, first: parts.append(chunk))
    assert len(parts) > 1 and np.allclose(pd.concat(parts)["probability"], expected)


JUDGED = re.compile(r"on the file's ([\d,]+) labelled rows: auc ([\d.]+) \[([\d.]+), ([\d.]+)\], logloss ([\d.]+) "
                    r"\[([\d.]+), ([\d.]+)\]")


def test_a_labelled_file_is_judged_by_the_studys_metrics_and_an_unlabelled_one_is_not(scored_study, tmp_path):
    home, store, study, test_rows = scored_study
    kept = next(r for r in store.best_outputs(study.id) if r.model == "fm")
    expected_auc = auc(test_rows["click"].to_numpy(), decode_outputs(kept.outputs)["test"])
    done = crossboard(home, "predict", "scored", str(home / "test_rows.csv"), "--model", "fm")
    assert done.returncode == 0, done.stderr
    (found,) = JUDGED.findall(done.stderr)
    rows, value, low, high, loss, loss_low, loss_high = found
    assert int(rows.replace(",", "")) == len(test_rows)
    assert float(value) == pytest.approx(expected_auc, abs=1e-4)        # the leaderboard's test AUC of fm's best
    assert float(low) < float(value) < float(high) and float(loss_low) < float(loss) < float(loss_high)
    test_rows.drop(columns=["click"]).to_csv(tmp_path / "unlabelled.csv", index=False)
    done = crossboard(home, "predict", "scored", str(tmp_path / "unlabelled.csv"), "--model", "fm")
    assert done.returncode == 0, done.stderr
    assert "labelled rows" not in done.stderr


def test_the_leaderboard_shows_a_scored_files_auc_with_its_interval(scored_study, monkeypatch):
    from streamlit.testing.v1 import AppTest

    home, _, study, test_rows = scored_study
    monkeypatch.setenv("CROSSBOARD_HOME", str(home))
    monkeypatch.setenv("CROSSBOARD_DB", f"sqlite:///{home / 'crossboard.db'}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["study"] = str(study.id)
    at.run()
    at.session_state[f"leaderboard_tab_{study.id}"] = "Use this model"       # drawn when its tab is open
    at.switch_page("ui/leaderboard_page.py").run()
    at.selectbox(key=f"use_model_{study.id}").set_value("fm").run()
    at.file_uploader[0].set_value(("rows.csv", test_rows.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric if m.label in ("auc", "logloss")] == ["auc", "logloss"]
    (shown,) = [float(m.value) for m in at.metric if m.label == "auc"]
    (cli,) = JUDGED.findall(crossboard(home, "predict", "scored", str(home / "test_rows.csv"), "--model", "fm").stderr)
    assert shown == pytest.approx(float(cli[1]), abs=1e-4)
    assert sum("95% interval [" in c.value for c in at.caption) == 2
    at.file_uploader[0].set_value(("new.csv", test_rows.drop(columns=["click"]).to_csv(index=False).encode(),
                                   "text/csv")).run()
    assert not at.exception, at.exception
    assert not [m for m in at.metric if m.label in ("auc", "logloss")]
    assert any("has no labels in the column" in c.value for c in at.caption)


@pytest.mark.parametrize("model", ["fm", "gbdt"])
def test_an_exported_folder_scores_a_file_like_predict_without_crossboard_or_torch(scored_study, tmp_path, model):
    home, *_ = scored_study
    out = tmp_path / f"{model}-export"
    done = crossboard(home, "export", "scored", str(out), "--model", model)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "encoder.json", "model.onnx", "predict.py"]
    card = json.loads((out / "card.json").read_text())
    assert card["model"] == model and card["calibration"] and 0.5 < card["test"]["auc"] <= 1
    assert card["latency_ms"]["1_row"]["p50"] > 0 and card["latency_ms"]["1000_rows"]["p99"] > 0
    blocked = tmp_path / "blocked"                       # these cannot be imported by the exported script
    blocked.mkdir()
    for name in ("torch", "automl", "models", "storage", "sqlalchemy", "optuna", "lightgbm"):
        (blocked / f"{name}.py").write_text("raise ImportError('not available beside an export')\n")
    odd = pd.read_csv(home / "test_rows.csv")
    odd.loc[::3, "item_id"], odd.loc[::4, "price"] = "never-seen", np.nan     # unseen ids, missing numbers
    odd.to_csv(tmp_path / "odd.csv", index=False)
    for rows in (home / "test_rows.csv", tmp_path / "odd.csv"):
        run = subprocess.run([sys.executable, str(out / "predict.py"), str(rows)], cwd=tmp_path, check=False,
                             env={**os.environ, "PYTHONPATH": str(blocked)}, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        done = crossboard(home, "predict", "scored", str(rows), "--model", model)
        exported, predicted = pd.read_csv(io.StringIO(run.stdout)), pd.read_csv(io.StringIO(done.stdout))
        assert list(exported.columns) == list(predicted.columns)
        assert np.allclose(exported["probability"], predicted["probability"], atol=1e-5)
    assert "item_id" in run.stderr and "item_id" in done.stderr             # both report the unseen ids


def test_recommend_gives_each_user_k_new_items_and_never_one_of_theirs(tmp_path):
    home = tmp_path / "home"
    frame = demo_frame(n_rows=2500, n_users=60, n_items=50, seed=4)
    frame.to_csv(tmp_path / "log.csv", index=False)
    assert crossboard(home, "ingest", str(tmp_path / "log.csv"), "--name", "log").returncode == 0
    done = crossboard(home, "tune", "log", "--task", "implicit", "--models", "mf,pop", "--trials", "2", "--epochs", "2",
                      "--seeds", "0", "--name", "topk", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    users = list(frame["user_id"].drop_duplicates()[:5])
    (tmp_path / "users.txt").write_text("user_id\n" + "\n".join(users) + "\nnobody\n")
    done = crossboard(home, "recommend", "topk", "--users", str(tmp_path / "users.txt"), "--k", "7")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(io.StringIO(done.stdout))
    assert list(table.columns) == ["user", "rank", "item", "score"]
    assert table.groupby("user")["item"].nunique().to_dict() == dict.fromkeys(users, 7)
    assert (table.groupby("user")["rank"].apply(list) == [list(range(1, 8))] * 5).all()
    assert table.groupby("user")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    clicked = frame[frame["click"] == 1]                  # the implicit study's interactions: the clicks
    theirs = set(zip(clicked["user_id"], clicked["item_id"], strict=True))
    assert not any((u, i) in theirs for u, i in zip(table["user"], table["item"], strict=True))
    assert "nobody" in done.stderr
    one = crossboard(home, "recommend", "topk", "--users", users[0], "--k", "3", "--model", "mf")
    assert pd.read_csv(io.StringIO(one.stdout))["item"].tolist() == table[table["user"] == users[0]]["item"][:3].tolist()
    refused = crossboard(home, "recommend", "topk", "--users", users[0], "--model", "pop")
    assert refused.returncode == 2 and "pop" in refused.stderr


def test_new_rows_get_the_history_the_log_gives_them_as_training_rows_did():
    frame = history_click_frame(4000, n_users=60)
    schema = datasets.inspect(frame.to_csv(index=False).encode(), "log.csv").schema
    assignment, _ = make_split(frame["click"].to_numpy(), "ctr", None)
    data = encode(frame, schema, assignment)
    history = data.encoder.history
    assert history.user_field is not None and history.timestamp == "timestamp"
    codes = np.empty((len(frame), data.spec.n_fields), np.int64)
    for i, split in enumerate(("train", "val", "test")):
        codes[assignment == i] = data.splits[split]["cat"].numpy()
    every_event = keep_newest_events(codes[:, history.user_field], codes[:, history.fields],
                                     timestamps_of(frame, schema), frame["click"].to_numpy() == 1, None)
    for i, split in enumerate(("train", "val", "test")):
        arrays, _ = data.encoder.apply(frame[assignment == i].reset_index(drop=True), every_event, history=True)
        known = data.splits[split]["cat"][:, history.user_field].numpy() > 0
        for key in ("hist0", "hist1", "hist_len", "hist_age"):
            assert np.array_equal(arrays[key][known], data.splits[split][key].numpy()[known]), (split, key)
        assert (arrays["hist_len"][~known] == 0).all()
    kept = data.events                                      # what a study keeps: each user's newest steps
    assert np.bincount(kept["user"]).max() <= history.max_len and len(kept["user"]) < len(every_event["user"])


def test_a_history_model_scores_and_exports_with_the_logs_events(tmp_path):
    home = tmp_path / "home"
    frame = history_click_frame(3000, n_users=50)
    frame.to_csv(tmp_path / "log.csv", index=False)
    assert crossboard(home, "ingest", str(tmp_path / "log.csv"), "--name", "log").returncode == 0
    done = crossboard(home, "tune", "log", "--models", "din", "--trials", "1", "--epochs", "2", "--seeds", "0",
                      "--name", "hist", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    later = frame.tail(200).assign(timestamp="2026-01-01 00:00:00").drop(columns=["click"])   # after the log
    later.to_csv(tmp_path / "later.csv", index=False)
    done = crossboard(home, "predict", "hist", str(tmp_path / "later.csv"), "--model", "din")
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(io.StringIO(done.stdout))
    assert predicted["probability"].between(0, 1).all() and predicted["probability"].nunique() > 1
    out = tmp_path / "din"
    assert crossboard(home, "export", "hist", str(out), "--model", "din").returncode == 0
    assert (out / "history_events.npz").exists()
    run = subprocess.run([sys.executable, str(out / "predict.py"), str(tmp_path / "later.csv")], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert np.allclose(pd.read_csv(io.StringIO(run.stdout))["probability"], predicted["probability"], atol=1e-5)


def test_predict_gives_a_rating_studys_ratings(tmp_path):
    from synth import rating_frame

    home, frame = tmp_path / "home", rating_frame(2000)
    frame.to_csv(tmp_path / "ratings.csv", index=False)
    assert crossboard(home, "ingest", str(tmp_path / "ratings.csv"), "--name", "ratings").returncode == 0
    done = crossboard(home, "tune", "ratings", "--models", "fm,gbdt", "--trials", "2", "--epochs", "2", "--seeds", "0",
                      "--name", "rated", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    store = Store(f"sqlite:///{home / 'crossboard.db'}")
    test_rows = frame[stored_split(store, store.find_dataset("ratings"), home) == 2]
    test_rows.drop(columns=["rating"]).to_csv(tmp_path / "to_rate.csv", index=False)
    study = store.find_study("rated")
    for model in ("fm", "gbdt"):
        done = crossboard(home, "predict", "rated", str(tmp_path / "to_rate.csv"), "--model", model)
        assert done.returncode == 0, done.stderr
        scored = pd.read_csv(io.StringIO(done.stdout))
        kept = next(r for r in store.best_outputs(study.id) if r.model == model)
        assert "rating" in scored.columns and "probability" not in scored.columns
        assert np.allclose(scored["rating"], decode_outputs(kept.outputs)["test"], atol=1e-4)
    test_rows.to_csv(tmp_path / "rated.csv", index=False)          # the label column too: judged by RMSE and MAE
    done = crossboard(home, "predict", "rated", str(tmp_path / "rated.csv"), "--model", "fm")
    assert done.returncode == 0, done.stderr
    fm = next(r for r in store.best_outputs(study.id) if r.model == "fm")
    errors = test_rows["rating"].to_numpy() - decode_outputs(fm.outputs)["test"]
    (rmse, mae) = re.findall(r"labelled rows: rmse ([\d.]+) \[[\d., ]+\], mae ([\d.]+) \[", done.stderr)[0]
    assert float(rmse) == pytest.approx(np.sqrt(np.mean(errors ** 2)), abs=1e-3)
    assert float(mae) == pytest.approx(np.mean(np.abs(errors)), abs=1e-3)
