"""Several worker processes on one SQLite database, and a worker killed mid-trial."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from cli_helpers import crossboard, start_crossboard
from optuna.trial import TrialState

from automl.data.demo import demo_frame
from automl.search.optuna_storage import optuna_storage
from automl.training.loop import TIME_LIMIT_NOTE
from storage import Store

pytestmark = pytest.mark.slow


@pytest.fixture
def dataset(home, tmp_path):
    path = tmp_path / "log.csv"
    demo_frame(n_rows=800, n_users=50, n_items=40).to_csv(path, index=False)
    done = crossboard(home, "ingest", str(path), "--name", "log")
    assert done.returncode == 0, done.stderr
    return "log"


def optuna_trials(store: Store, study_name: str):
    study = optuna.load_study(study_name=store.find_study(study_name).optuna_name,
                              storage=optuna_storage(store.url))
    return study.get_trials(deepcopy=False)


def test_three_workers_share_sqlite_without_lock_errors(home, dataset, store):
    done = crossboard(home, "tune", dataset, "--models", "lr,fm", "--trials", "30", "--workers", "3",
                      "--epochs", "1", "--pruner", "none", "--name", "many", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    logs = "".join(p.read_text() for p in (home / "logs").iterdir())
    assert "database is locked" not in logs and "Traceback" not in logs
    workers = store.workers(store.find_study("many").id)
    assert len(workers) == 3 and all(w.status == "finished" for w in workers)
    trials = optuna_trials(store, "many")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert 30 <= len(complete) <= 32                  # at most one extra trial per other worker
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    results = store.results(store.find_study("many").id)
    assert sorted(r.trial_number for r in results) == sorted(t.number for t in complete)
    assert {r.worker_id for r in results} == {w.id for w in workers}    # every worker did work
    assert store.find_study("many").status == "finished"


def test_a_worker_killed_mid_trial_leaves_no_trial_running(home, dataset, store):
    tune = start_crossboard(home, "tune", dataset, "--models", "deepfm", "--trials", "6", "--workers", "2",
                            "--epochs", "40", "--patience", "99", "--pruner", "none", "--name", "kill",
                            CROSSBOARD_HEARTBEAT_S="1", CROSSBOARD_GRACE_S="3")
    victim = None
    deadline = time.time() + 180
    while victim is None and time.time() < deadline:
        study = store.find_study("kill")
        running = [w for w in store.workers(study.id)] if study else []
        running = [w for w in running if w.status == "running" and w.trial_number is not None
                   and w.epoch is not None and 1 <= w.epoch <= 20]          # 20 of its 40 epochs still to run
        victim = running[0] if running else None
        time.sleep(0.2)
    assert victim is not None, "no worker reached a trial's first epoch"
    os.kill(victim.pid, signal.SIGKILL)
    output, _ = tune.communicate(timeout=400)
    assert tune.returncode == 0, output

    trials = optuna_trials(store, "kill")
    states = {t.number: t.state for t in trials}
    assert states[victim.trial_number] == TrialState.FAIL
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 6
    workers = {w.id: w for w in store.workers(store.find_study("kill").id)}
    assert workers[victim.id].status == "lost"
    assert [w.status for w in workers.values() if w.id != victim.id] == ["finished"]


def test_the_time_limit_stops_a_running_trial_which_keeps_its_best_epoch(home, dataset, store):
    started = time.time()
    done = crossboard(home, "tune", dataset, "--models", "fm", "--trials", "5", "--minutes", "0.1",
                      "--trial-minutes", "1", "--epochs", "100000", "--patience", "100000", "--pruner", "none",
                      "--seeds", "0", "--name", "limited", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.time() - started < 120                 # 100,000 epochs would take far longer
    results = store.results(store.find_study("limited").id)
    assert len(results) == 1 and results[0].state == "COMPLETE"
    notes = json.loads(results[0].extra_json)["notes"]
    assert notes[TIME_LIMIT_NOTE] == results[0].epochs < 100000
    assert json.loads(results[0].test_json)["auc"] > 0


def test_two_workers_share_one_allocation_and_the_top_models_are_reseeded(home, dataset, store):
    done = crossboard(home, "tune", dataset, "--models", "lr,fm,nfm", "--trials", "7", "--workers", "2",
                      "--epochs", "2", "--pruner", "none", "--seeds", "2", "--name", "fair", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    study = store.find_study("fair")
    results = store.results(study.id)
    per_model = {m: sum(r.model == m for r in results) for m in ("lr", "fm", "nfm")}
    assert all(count >= 7 // 3 for count in per_model.values()), per_model      # min(k, N // M) each
    assert sum(store.allocations(study.id).values()) == len(optuna_trials(store, "fair"))

    board = json.loads(crossboard(home, "leaderboard", "fair", "--best", "--format", "json").stdout)
    models = [r for r in board if r["state"] == "COMPLETE"]
    assert {r["model"] for r in models} == {"lr", "fm", "nfm"}
    # the models in contention (the leader's group when the trials ended) got 2 more seeds each, the others none
    (lead,) = [r for r in models if r["standing"] == "leader"]     # the best on validation of the models judged
    assert lead["seeds"] == 3 and lead["test_sd"]["auc"] is not None
    assert all(r["seeds"] in (1, 3) for r in models)
    assert lead["tied_with_leader"] is None                          # not tied with itself
    assert all(r["standing"] in ("leader group", "behind", "clearly behind", "under-explored")
               for r in models if r is not lead)
    for r in models:                                     # the verdict: every model's interval on the shared rows
        assert r["test_low"] <= r["test_mean"]["auc"] + 0.05 and r["test_low"] < r["test_high"]
        assert isinstance(r["leader_group"], bool) and set(r["better_than"]) <= {"lr", "fm", "nfm"}
    assert all(0 < r["test_mean"]["auc"] <= 1 for r in models)
    report = crossboard(home, "report", "fair")
    leader = lead["model"]
    assert report.returncode == 0 and "Protocol:" in report.stdout
    assert report.stdout.startswith((f"{leader} wins", f"No single winner: {leader} is the best on validation",
                                     f"{leader} is the only model judged", "No model reached a fair budget"))
    stored = json.loads(crossboard(home, "report", "fair", "--format", "json").stdout)
    assert stored["verdict"]["standings"][0]["model"] == leader and stored["sentences"]

    before = [(r["model"], r["trial"]) for r in models]
    again = crossboard(home, "reseed", "fair", "--seeds", "3", "--top", "1")
    assert again.returncode == 0, again.stderr
    new = 3 - (models[0]["seeds"] - 1)             # the best on validation: the leader (1 new seed) unless under-explored
    assert f"{new} rerun(s)" in again.stdout
    after = json.loads(crossboard(home, "leaderboard", "fair", "--best", "--format", "json").stdout)
    after = [r for r in after if r["state"] == "COMPLETE"]
    assert [(r["model"], r["trial"]) for r in after] == before    # the study's best trials are unchanged
    assert after[0]["seeds"] == 4 and len(store.results(study.id)) == len(results)


def test_a_finished_worker_is_waited_for_and_leaves_no_zombie(tmp_path, monkeypatch):
    """launch_workers waits for each worker in a thread: a long-lived caller (the app's server) that never
    polls keeps no <defunct> process."""
    from automl.search import control

    monkeypatch.setattr(control.sys, "executable", "/bin/true")         # a worker that ends at once
    (proc,) = control.launch_workers("sqlite:///x.db", 7, tmp_path, 1, devices=[None])
    deadline = time.monotonic() + 10
    while proc.returncode is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.returncode == 0 and not Path(f"/proc/{proc.pid}").exists()        # reaped, not <defunct>
