"""A time budget is a promise: ``--minutes`` split up front into the study's phases, each phase ending at
its share (a replay between windows, a refit after an epoch, a rerun that would not fit never started),
Stop ending an online study within seconds, and progress naming every phase."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import datetime

import numpy as np
import pytest
from study_helpers import study_with
from test_online import drifting, fitted

from automl.online.modes import Refit, Retrain, Static, clone
from automl.online.replay import Halted, replay
from automl.reporting.progress import eta, study_progress
from automl.search import budget
from automl.search.budget import OUT_OF_TIME, STOPPED, Halt, phase_ends, phase_shares, plan_words
from automl.search.config import StudyConfig
from models import REGISTRY
from storage.tables import WorkerPhase


class After:
    """A halt that gives ``reason`` from its ``n``-th question on (and no deadline)."""

    def __init__(self, n: int, reason: str = STOPPED):
        self.n, self.reason, self.asked = n, reason, 0

    def __call__(self) -> str | None:
        self.asked += 1
        return self.reason if self.asked >= self.n else None

    def seconds_left(self) -> float | None:
        return None


def test_the_minutes_are_split_into_the_phases_the_study_has():
    offline = StudyConfig(models=["lr"], minutes=10)                       # 2 seeds by default
    assert phase_shares(offline) == pytest.approx({WorkerPhase.TRIAL: 0.80, WorkerPhase.DIAGNOSTICS: 0.05,
                                                   WorkerPhase.SEED_RERUNS: 0.15})
    assert phase_ends(offline) == pytest.approx({WorkerPhase.TRIAL: 480, WorkerPhase.DIAGNOSTICS: 510,
                                                 WorkerPhase.SEED_RERUNS: 600})
    online = dataclasses.replace(offline, seeds=0, online={"initial": 0.3})
    assert phase_shares(online) == pytest.approx({WorkerPhase.TRIAL: 0.65, WorkerPhase.DIAGNOSTICS: 0.05,
                                                  WorkerPhase.ONLINE_REPLAYS: 0.30})
    assert max(phase_ends(online).values()) == pytest.approx(600)          # the last phase ends with the budget
    assert plan_words(online) == "trials 6.5 min, diagnostics 0.5 min, online replays 3.0 min"
    assert phase_ends(StudyConfig(models=["lr"], n_trials=5)) is None and plan_words(StudyConfig(models=["lr"])) == ""


def test_trials_end_at_their_share_and_a_halt_says_why(store):
    study = study_with(store, [("lr", 0.7, {})], n_trials=None, minutes=10)
    config = StudyConfig.from_json(study.config_json)
    assert not budget.spent(store, study, config)
    store.update_study(study.id, started_at=datetime(2000, 1, 1))      # long ago: every phase is over
    study = store.find_study(study.id)
    assert budget.spent(store, study, config) and budget.seconds_left(study, config, WorkerPhase.SEED_RERUNS) < 0
    assert Halt(store, study.id, budget.deadline(study, config, WorkerPhase.DIAGNOSTICS))() == OUT_OF_TIME
    open_ended = Halt(store, study.id, None, poll_s=0.0)
    assert open_ended() is None and open_ended.seconds_left() is None
    store.update_study(study.id, stop_requested=True)
    assert open_ended() == STOPPED


def test_a_replay_ends_between_windows_when_halted():
    data, log = drifting()
    model, _, calibration = fitted("lr", data)
    learned = []

    class Counting(Static):
        def learn(self, log, start, end):
            learned.append(start)

    with pytest.raises(Halted, match=STOPPED):
        replay(Counting(clone(model)), log, range(log.n_windows), calibration, halt=After(3))
    assert len(learned) == 2 < log.n_windows                  # two windows scored and revealed, then it ended


def test_a_refit_stops_after_the_epoch_the_halt_comes_in():
    data, log = drifting()
    model, params, _ = fitted("lr", data)
    halt = After(1, OUT_OF_TIME)
    refit = Refit(REGISTRY["lr"], params, data.spec, "auc", max_epochs=50, patience=50, seed=0, halt=halt)
    with pytest.raises(Halted, match="time ran out"):
        Retrain(clone(model), refit, every=1).learn(log, *log.span(0))
    assert halt.asked == 2                                    # once after the first epoch, once after the refit


def test_no_rerun_starts_that_the_phase_cannot_fit_and_no_diagnostics_after_their_end(store):
    from automl.search.reseed import fits, run_reseeds
    from automl.search.worker import diagnose_bests

    study = study_with(store, [("lr", 0.70, {}), ("fm", 0.72, {})])
    row = store.results(study.id)[0]                          # trained 1 s
    short, roomy = Halt(store, study.id, time.time() + 1.0), Halt(store, study.id, time.time() + 60)
    assert not fits(row, short) and fits(row, roomy) and fits(row, None)
    config = StudyConfig.from_json(study.config_json)
    assert run_reseeds(store, study, config, None, extra=2, halt=short) == 0 and not store.seed_run_states(study.id)
    diagnose_bests(store, study, None, worker_id=0, halt=Halt(store, study.id, time.time() - 1))
    assert not store.diagnosed_trials(study.id)


def test_progress_names_every_phase_and_its_eta_is_never_zero_while_work_remains(store):
    study = study_with(store, [("lr", 0.70, {}), ("fm", 0.72, {})], n_trials=4)
    progress = study_progress(store, study)
    assert [p.phase for p in progress.phases] == [WorkerPhase.TRIAL, WorkerPhase.DIAGNOSTICS, WorkerPhase.SEED_RERUNS]
    trials, diagnostics, reruns = progress.phases
    assert (trials.done, trials.total) == (2, 4) and trials.work_s == pytest.approx(2 * 1.0)
    assert (diagnostics.done, diagnostics.total) == (0, 2) and reruns.total == 2 * 2      # top models × 2 seeds
    assert eta(progress.phases, StudyConfig(models=["lr"], n_trials=4), 10.0) >= 1.0
    timed = StudyConfig(models=["lr"], minutes=1)
    assert eta(progress.phases, timed, 30.0) == pytest.approx(30.0)
    assert eta(progress.phases, timed, 600.0) >= 1.0                   # past the plan with work left: not 0:00:00
    store.claim_seed_run(study.id, "fm", 1, [7])
    store.update_worker(store.add_worker(study.id, "here", 1), status="running", phase=WorkerPhase.SEED_RERUNS)
    store.update_study(study.id, status="running")
    line = study_progress(store, study).line("auc")
    assert line.startswith("[running] trials 2/4 · seed reruns 0/4 · best auc 0.7200 (fm)") and "w1: seed reruns" in line


def test_stop_ends_an_online_study_within_seconds(home, tmp_path):
    """Real workers replaying a long stream: Stop ends them within 30 s, the replay they were on is kept as
    "stopped" and nothing says it still runs."""
    from automl.data import datasets
    from automl.data.demo import drifting_frame
    from automl.online.run import STOPPED as STOPPED_REPLAY
    from automl.search.control import launch_workers, request_stop
    from automl.search.study import create_study
    from storage import Store

    store = Store()
    frame = drifting_frame(20_000, seed=3)
    dataset = datasets.save(store, datasets.inspect(frame.to_csv(index=False).encode(), "stream.csv"))
    config = StudyConfig(models=["lr", "fm"], n_trials=2, max_epochs=1, seeds=0, workers=1,
                         online={"initial": 0.3, "window_rows": 100})
    study = create_study(store, dataset, config, name="live")
    procs = launch_workers(store.url, study.id, home, 1)
    try:
        deadline = time.time() + 300
        while not store.online_runs(study.id) and time.time() < deadline:
            assert all(p.poll() is None for p in procs), (home / "logs").glob("*.log")
            time.sleep(0.5)
        assert store.online_runs(study.id), "no replay started"
        asked = time.time()
        request_stop(store, study)
        for p in procs:
            p.wait(timeout=60)
        assert time.time() - asked < 30
    finally:
        for p in procs:
            p.kill()
    states = {(r.model, r.mode): r.state for r in store.online_runs(study.id)}
    assert STOPPED_REPLAY in states.values() and "running" not in states.values(), states
    progress = study_progress(store, store.find_study(study.id))
    assert progress.status == "stopped" and progress.online.running == [] and not progress.running
    assert json.loads(store.find_study(study.id).config_json)["online"]["window_rows"] == 100
    assert np.isfinite(progress.elapsed_s)


def test_tune_says_when_the_minutes_cannot_give_every_model_a_fair_start(home, tmp_path):
    from cli_helpers import crossboard

    from automl.data.demo import demo_frame

    path = tmp_path / "clicks.csv"
    demo_frame(n_rows=2000).to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "clicks").returncode == 0
    tight = crossboard(home, "tune", "clicks", "--minutes", "2", "--workers", "0")
    assert tight.returncode == 0, tight.stderr
    assert "2 minutes: trials 1.6 min, diagnostics 0.1 min, seed reruns 0.3 min" in tight.stdout
    assert "under-explored. For this budget: --models lr" in tight.stdout
    roomy = crossboard(home, "tune", "clicks", "--minutes", "60", "--models", "lr,fm", "--workers", "0")
    assert roomy.returncode == 0 and "note:" not in roomy.stdout
