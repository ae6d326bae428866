"""Online studies: the time-ordered log and its windows, the prequential replay (never a window's
labels before it is scored), the static / incremental / retrain modes, DRN's minor (DBGD) and
major (DQN) updates, and the end-to-end ``tune --online`` through the CLI."""

from __future__ import annotations

import json
import math
from functools import lru_cache

import numpy as np
import pytest
import torch
from cli_helpers import crossboard
from torch import nn

from automl.data.demo import drifting_frame
from automl.data.infer_schema import infer_schema
from automl.data.timestamps import timestamps_of
from automl.data.validate import label_vector
from automl.errors import SettingsError
from automl.evaluation.calibration import Platt
from automl.features.encode import EncodedData, EncodingOptions, encode
from automl.features.splits import SPLIT_NAMES, TEST, TRAIN, VAL, make_split
from automl.online.drn import DRNLearner, DRNOptions, dbgd_step, dqn_targets, next_set_values, perturbation
from automl.online.modes import Incremental, Refit, Retrain, Static, clone
from automl.online.replay import grouped_ndcg, hidden_labels, replay
from automl.online.run import modes_of
from automl.online.stream import DEFAULT_MODES, Log, OnlineSettings, make_log
from automl.training.fit import train_and_evaluate
from models import REGISTRY


def encoded_stream(frame, settings: OnlineSettings) -> tuple[EncodedData, Log]:
    """``frame`` split and encoded as an online study's worker does it, and its Log."""
    schema = infer_schema(frame)
    times = timestamps_of(frame, schema)
    assignment, _ = make_split(label_vector(frame, schema), "ctr", times, settings.fractions)
    data = encode(frame, schema, assignment, EncodingOptions(open_vocabulary=True))
    seconds = {split: times[assignment == i].astype(np.float64) for i, split in enumerate(SPLIT_NAMES)}
    return data, make_log(data, seconds, settings)


@lru_cache(maxsize=2)
def drifting(n_rows: int = 6000, window_rows: int = 400) -> tuple[EncodedData, Log]:
    return encoded_stream(drifting_frame(n_rows, seed=1), OnlineSettings(initial=0.3, window_rows=window_rows))


def fitted(name: str, data: EncodedData, **params):
    card = REGISTRY[name]
    options = {**card.defaults, "lr": 0.01, "batch_size": 256, **params}
    outcome = train_and_evaluate(card, options, data, metric="auc", max_epochs=4, patience=1, seed=0)
    return outcome.model, options, outcome.calibration or Platt()


# -- the log ------------------------------------------------------------------------------
def test_log_is_time_ordered_and_windows_cut_the_stream():
    data, log = drifting()
    n = sum(len(b["label"]) for b in data.splits.values())
    assert len(log.seconds) == n and np.all(np.diff(log.seconds) >= 0)
    assert log.edges[0] == len(data.splits["train"]["label"]) + len(data.splits["val"]["label"])
    sizes = np.diff(log.edges)
    assert (sizes[:-1] == 400).all() and 0 < sizes[-1] <= 400
    assert (log.window[: log.edges[0]] < 0).all() and (np.diff(log.window) >= 0).all()
    assert log.n_tuning == round(0.2 * log.n_windows)
    # the stream's labels are the test split's, reordered by time
    assert sorted(log.rows["label"][log.edges[0]:].tolist()) == sorted(data.splits["test"]["label"].tolist())


def test_windows_by_duration_skip_empty_hours():
    frame = drifting_frame(3000, seed=2)
    frame.loc[frame.index[-300:], "timestamp"] += 10 * 86_400          # ten empty days before the last rows
    _, log = encoded_stream(frame, OnlineSettings(initial=0.3, window_hours=48))
    widths = [log.seconds[b - 1] - log.seconds[a] for a, b in zip(log.edges[:-1], log.edges[1:], strict=True)]
    assert max(widths) < 48 * 3600
    assert np.diff(log.starts).max() > 10 * 86_400                     # the gap is skipped, not windows of nothing
    assert (np.diff(log.edges) > 0).all()


def test_too_few_windows_is_refused_with_the_fix():
    with pytest.raises(SettingsError, match="smaller windows"):
        encoded_stream(drifting_frame(2000, seed=3), OnlineSettings(initial=0.3, window_rows=1000))


def test_settings_are_checked():
    for bad in (OnlineSettings(initial=0.95), OnlineSettings(window_rows=100, window_hours=2),
                OnlineSettings(modes=("sometimes",)), OnlineSettings(window_rows=3)):
        with pytest.raises(SettingsError):
            bad.check()


# -- the replay ---------------------------------------------------------------------------
class LeakDetector(Static):
    """Scores and learns like a learner, and records what it was shown when."""

    def __init__(self, model, revealed_until: int):
        super().__init__(model)
        self.revealed_until, self.scored = revealed_until, []

    def score(self, batch):
        assert torch.isnan(batch["label"]).all(), "labels visible while scoring"
        self.scored.append((int(batch["cat"].shape[0]), self.revealed_until))
        return super().score(batch)

    def learn(self, log, start, end):
        assert start == self.revealed_until, "windows revealed out of order or skipped"
        self.revealed_until = end


@pytest.mark.parametrize("parts", [1, 3])
def test_prequential_replay_never_reveals_a_window_before_scoring_it(parts):
    data, log = drifting()
    model, _, calibration = fitted("lr", data)
    learner = LeakDetector(model, revealed_until=int(log.edges[0]))
    learner.parts = parts                    # DRN's update window: each window in parts, each scored first
    found = replay(learner, log, range(log.n_windows), calibration, reported=range(2, log.n_windows))
    assert len(learner.scored) == log.n_windows * parts
    assert sum(rows for rows, _ in learner.scored) == log.edges[-1] - log.edges[0]
    for w in range(log.n_windows):           # a window's first part is scored with nothing of it revealed
        assert learner.scored[w * parts][1] == log.edges[w]
    assert learner.revealed_until == log.edges[-1]
    assert [w["window"] for w in found.windows] == list(range(2, log.n_windows))
    assert found.overall()["rows"] == log.edges[-1] - log.edges[2]


def test_a_model_that_reads_labels_learns_nothing_from_them():
    """A 'model' returning the label as its score: the replay hides them, so it cannot score."""
    class Cheat(nn.Module):
        def forward(self, batch):
            return batch["label"] * 10

    _, log = drifting()
    batch = hidden_labels(log.take(*log.span(0)))
    assert torch.isnan(Cheat()(batch)).all()


def test_grouped_ndcg_by_hand():
    labels = np.array([1, 0, 0, 0, 1, 0, 1, 1], float)
    scores = np.array([0.9, 0.5, 0.1, 0.9, 0.1, 0.5, 0.3, 0.3])
    groups = np.array([0, 0, 0, 1, 1, 1, 2, 3])
    total, counted = grouped_ndcg(labels, scores, groups)
    # group 0: the click first -> 1; group 1: the click third -> 1/log2(4) = 0.5; groups 2, 3: one row each, skipped
    assert counted == 2 and total == pytest.approx(1.5)
    tied = grouped_ndcg(np.array([0, 1.0]), np.array([0.5, 0.5]), np.array([0, 0]))
    assert tied == (pytest.approx(1 / math.log2(3)), 1)                # ties ranked pessimistically


# -- the modes ----------------------------------------------------------------------------
def test_incremental_beats_static_when_items_and_tastes_change():
    data, log = drifting()
    model, params, calibration = fitted("fm", data)
    windows = range(log.n_windows)
    static = replay(Static(clone(model)), log, windows, calibration).overall()
    incremental = replay(Incremental(clone(model), params, 3.0), log, windows, calibration).overall()
    assert incremental["auc"] > static["auc"] + 0.03
    assert incremental["logloss"] < static["logloss"]


def test_incremental_updates_only_after_scoring():
    data, log = drifting()
    model, params, _ = fitted("lr", data)
    learner = Incremental(clone(model), params, 1.0)
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    learner.score(hidden_labels(log.take(*log.span(0))))
    assert all(torch.equal(before[k], v) for k, v in learner.model.state_dict().items())
    learner.learn(log, *log.span(0))
    assert any(not torch.equal(before[k], v) for k, v in learner.model.state_dict().items())


def test_retrain_refits_on_the_revealed_rows_and_calibrates_on_the_held_out_window():
    data, log = drifting()
    model, params, _ = fitted("lr", data)
    refit = Refit(REGISTRY["lr"], params, data.spec, "auc", max_epochs=2, patience=1, seed=0)
    learner = Retrain(clone(model), refit, every=2)
    learner.learn(log, *log.span(0))
    assert learner.model is not None and learner.held_out_calibration() is None      # not yet: every 2 windows
    first = learner.model
    learner.learn(log, *log.span(1))
    assert learner.model is not first
    assert isinstance(learner.held_out_calibration(), Platt) and learner.held_out_calibration() is None


# -- DRN ----------------------------------------------------------------------------------
class Linear(nn.Module):
    """score = x @ w: a two-feature ranker whose weights a test sets by hand."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, batch):
        return batch["x"] @ self.w


def impressions(n_sets: int = 600, size: int = 5, seed: int = 0):
    """Sets of ``size`` rows; a row is clicked when its feature 0 is the highest of its set."""
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(n_sets * size, 2)), dtype=torch.float32)
    groups = np.repeat(np.arange(n_sets), size)
    first = x[:, 0].numpy().reshape(n_sets, size)
    clicks = (first == first.max(1, keepdims=True)).reshape(-1)
    return {"x": x, "label": torch.tensor(clicks, dtype=torch.float32)}, clicks, groups


@pytest.mark.parametrize("method", ["probabilistic", "team_draft"])
def test_dbgd_adopts_a_better_explore_network_and_not_a_worse_one(method):
    batch, clicks, groups = impressions()
    rng = np.random.default_rng(0)
    live = Linear([0.1, 1.0])                                          # ranks mostly by the useless feature
    toward_better = {"w": torch.tensor([0.9, -0.9])}
    duel = dbgd_step(live, toward_better, batch, clicks, groups, rng, eta=0.5, method=method)
    assert duel["adopted"] and duel["explore"] > duel["live"]
    assert torch.allclose(live.w, torch.tensor([0.55, 0.55]))         # W + eta * dW
    good = Linear([1.0, 0.1])
    duel = dbgd_step(good, {"w": torch.tensor([-0.9, 0.9])}, batch, clicks, groups, rng, eta=0.5, method=method)
    assert not duel["adopted"] and duel["live"] > duel["explore"]
    assert torch.equal(good.w.detach(), torch.tensor([1.0, 0.1]))     # a losing explore network changes nothing


def test_alpha_zero_leaves_the_weights_unchanged():
    data, log = drifting()
    model, params, _ = fitted("drn", data)
    learner = DRNLearner(clone(model), params, DRNOptions(alpha=0.0, eta=1.0, every=1000))
    assert all(not d.any() for d in perturbation(learner.model, 0.0, torch.Generator().manual_seed(0)).values())
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    for w in range(3):
        learner.learn(log, *log.span(w))
    assert all(torch.equal(before[k], v) for k, v in learner.model.state_dict().items())
    assert len(learner.duels) == 3


def test_perturbation_is_relative_to_each_weight():
    model = Linear([2.0, -4.0])
    delta = perturbation(model, 0.1, torch.Generator().manual_seed(0))["w"]
    assert (delta.abs() <= torch.tensor([0.2, 0.4])).all() and delta.abs().sum() > 0
    assert torch.equal(model.w.detach(), torch.tensor([2.0, -4.0]))   # the live weights are not touched


def test_dqn_targets_by_hand():
    users = np.array([1, 1, 2, 1, 2, 1])
    window = np.array([0, 0, 0, 1, 1, 3])
    q = np.array([0.2, 0.4, 0.3, 0.7, 0.9, 0.5])
    # user 1: window 0 -> next set window 1 (max 0.7); window 1 -> window 3 (0.5); window 3 -> none
    assert np.allclose(next_set_values(users, window, q), [0.7, 0.7, 0.9, 0.5, np.nan, np.nan], equal_nan=True)
    labels = torch.tensor([1.0, 0, 0, 1, 0, 0])
    log = Log({"label": labels}, np.arange(6.0) * 10, window, np.array([0, 3, 5, 6]), users)
    targets = dqn_targets(log, 0, 6, q, DRNOptions(gamma=0.5))
    assert np.allclose(targets, [0.5 * 1 + 0.5 * 0.7, 0.5 * 0.7, 0.5 * 0.9, 0.5 * 1 + 0.5 * 0.5, 0.0, 0.0])
    assert np.allclose(dqn_targets(log, 0, 6, q, DRNOptions(gamma=0.0)), labels.numpy())


def test_drn_update_window_splits_each_window_into_parts():
    data, log = drifting()
    model, params, calibration = fitted("drn", data)
    learner = DRNLearner(clone(model), params, DRNOptions(parts=2, every=1))
    found = replay(learner, log, range(3), calibration)
    assert [d["window"] for d in learner.duels] == [0, 0, 1, 1, 2, 2]
    assert found.overall()["rows"] == log.edges[3] - log.edges[0]


def test_drn_learner_updates_and_records_its_duels():
    data, log = drifting()
    model, params, calibration = fitted("drn", data)
    learner = DRNLearner(clone(model), params, DRNOptions(alpha=0.2, eta=1.0, every=2, gamma=0.5, beta=0.1))
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    found = replay(learner, log, range(4), calibration)
    assert len(learner.duels) == 4 and all(d["live"] >= 0 and d["explore"] >= 0 for d in learner.duels)
    assert [d["window"] for d in learner.duels] == [0, 1, 2, 3]
    assert any(not torch.equal(before[k], v) for k, v in learner.model.state_dict().items())   # major updates ran
    assert 0.5 < found.overall()["auc"] < 1


# -- end to end ---------------------------------------------------------------------------
def test_tune_online_from_the_cli(home, tmp_path):
    path = tmp_path / "stream.csv"
    drifting_frame(3000, seed=4).to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "stream").returncode == 0
    done = crossboard(home, "tune", "stream", "--online", "--window-rows", "300", "--initial", "0.3",
                      "--models", "lr,drn", "--trials", "2", "--epochs", "1", "--seeds", "0", "--name", "live",
                      timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = crossboard(home, "leaderboard", "live", "--format", "json")
    rows = json.loads(shown.stdout)
    assert {(r["model"], r["mode"]) for r in rows} == {
        ("lr", "static"), ("lr", "incremental"), ("lr", "retrain"),
        ("drn", "static"), ("drn", "incremental"), ("drn", "retrain"), ("drn", "drn")}
    for row in rows:
        assert row["state"] == "done", row["reason"]
        online = row["online"]
        assert 0 < online["auc"] < 1 and online["logloss"] > 0 and online["ndcg@10"] is not None
        assert online["windows"] and {"start", "rows", "auc"} <= set(online["windows"][0])
        assert online["windows"][0]["window"] == online["tuning_windows"]      # tuning windows never reported
        assert sum(w["rows"] for w in online["windows"]) == online["rows"]
    drn = next(r for r in rows if r["mode"] == "drn")
    assert {"alpha", "eta", "every", "gamma", "beta", "method"} <= set(drn["online"]["options"])
    assert all("duel" in w for w in drn["online"]["windows"])
    table = crossboard(home, "leaderboard", "live")
    assert "incremental" in table.stdout and "options chosen on the first" in table.stdout


def test_online_needs_a_timestamp_and_ctr(home, tmp_path):
    path = tmp_path / "stream.csv"
    drifting_frame(1000, seed=5).drop(columns=["timestamp"]).to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "untimed").returncode == 0
    refused = crossboard(home, "tune", "untimed", "--online", "--models", "lr", "--trials", "1")
    assert refused.returncode != 0 and "timestamp" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_split_of_an_online_study_keeps_time_order():
    frame = drifting_frame(2000, seed=6)
    times = frame["timestamp"].to_numpy()
    settings = OnlineSettings(initial=0.25)
    assignment, method = make_split(frame["click"].to_numpy(), "ctr", times, settings.fractions)
    assert method == "temporal"
    assert times[assignment == TRAIN].max() <= times[assignment == VAL].min()
    assert times[assignment == VAL].max() <= times[assignment == TEST].min()
    assert (assignment != TEST).mean() == pytest.approx(0.25, abs=0.01)


def test_a_models_own_online_mode_comes_from_its_card(home, tmp_path):
    """DRN's card declares its ``drn`` mode and that the mode needs a user column: a log without one is
    refused up front for drn (with the fix), not for a model without such a mode."""
    assert modes_of("drn", OnlineSettings()) == [*DEFAULT_MODES, REGISTRY["drn"].online_mode]
    assert modes_of("gbdt", OnlineSettings()) == ["static", "retrain"]
    path = tmp_path / "stream.csv"
    drifting_frame(1000, seed=7).drop(columns=["user_id"]).to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "anonymous").returncode == 0
    refused = crossboard(home, "tune", "anonymous", "--online", "--models", "lr,drn", "--trials", "1", "--workers", "0")
    assert refused.returncode == 2 and "user id column" in refused.stderr and "leave drn out" in refused.stderr
    allowed = crossboard(home, "tune", "anonymous", "--online", "--models", "lr", "--trials", "1", "--workers", "0")
    assert allowed.returncode == 0, allowed.stderr
