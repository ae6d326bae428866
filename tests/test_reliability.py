"""Reliability: on SQLite a reader never waits for a writer (WAL snapshot, plain BEGIN) while
writers still queue on the lock (BEGIN IMMEDIATE); a hostile libFM file is refused in seconds with
bounded memory; a trial's result and weights are written in one transaction; a fault in one trial
(or in the ensemble rebuild) fails that trial only, and a worker stops after too many failures in
a row; an ensemble built from outdated members is not stored."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from storage import Store
from storage.tables import StudyRow

HOLD_S = 3.0


def test_a_reader_does_not_wait_for_a_writer_holding_the_lock(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'crossboard.db'}")
    holding, release = threading.Event(), threading.Event()

    def writer():
        with store.session() as s:
            s.execute(sa.select(StudyRow.id)).all()        # BEGIN IMMEDIATE: the write lock is held from here
            holding.set()
            release.wait(HOLD_S)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(30)
    try:
        tick = time.perf_counter()
        assert store.studies() == [] and store.datasets() == []
        read_s = time.perf_counter() - tick
        blocked = threading.Thread(target=lambda: store.update_study(1, status="x"))
        blocked.start()
        blocked.join(0.5)
        assert blocked.is_alive()                  # a second writer waits for the lock
    finally:
        release.set()
        thread.join()
    blocked.join(30)
    assert read_s < 1.0, read_s
    assert not blocked.is_alive()


HOSTILE_LIBFM = """
import resource, sys, time
sys.path.insert(0, {root!r})
from automl.data.read import read_table
from automl.errors import DataError
rows = ["1 " + " ".join(f"{{i}}:1.5" for i in range(989))] + ["0 7:1"] * 700_000
payload = "\\n".join(rows).encode()
tick = time.perf_counter()
try:
    read_table(payload, "hostile.libfm")
    outcome = "read"
except DataError as error:
    outcome = "refused: " + str(error)
print(len(payload), time.perf_counter() - tick, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, outcome)
"""


def test_a_hostile_libfm_file_is_refused_in_seconds_with_bounded_memory():
    """One row with 989 features and 700k rows with one (a 4.8 MB file) would expand into a dense
    700k × 989 frame (5.5 GB of float64)."""
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", HOSTILE_LIBFM.format(root=root)], capture_output=True, text=True,
                          check=True, timeout=300)
    size, seconds, peak_kb, outcome = done.stdout.split(maxsplit=3)
    assert int(size) > 4_000_000
    assert outcome.startswith("refused") and "cells" in outcome and "CSV" in outcome, outcome
    assert float(seconds) < 20, seconds
    assert int(peak_kb) < 2 * 2**20, f"peak memory {int(peak_kb) / 2**20:.2f} GB"


# -- the trial write protocol and failing trials (one in-process worker on a tiny study) ---------------

def tiny_study(home, models: list[str], n_trials: int, name: str):
    import numpy as np
    import pandas as pd

    from automl.data import datasets
    from automl.search.config import StudyConfig
    from automl.search.study import create_study

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"colour": rng.choice(list("abcde"), 600), "shape": rng.choice(list("xyz"), 600),
                          "click": rng.integers(0, 2, 600)})
    store = Store()
    dataset = datasets.save(store, datasets.inspect(frame.to_csv(index=False).encode(), f"{name}.csv"))
    study = create_study(store, dataset, StudyConfig(models=models, n_trials=n_trials, max_epochs=1, seeds=0),
                         name=name)
    return store, study


def broken_forward(self, batch):
    raise RuntimeError("boom in forward")


def test_a_trial_whose_forward_raises_fails_alone_and_the_worker_goes_on(home, monkeypatch):
    from automl.search.worker import run_worker
    from models.linear import FactorizationMachine

    monkeypatch.setattr(FactorizationMachine, "forward", broken_forward)
    store, study = tiny_study(home, ["lr", "fm"], 6, "broken")
    assert run_worker(store, study.id, home) == 0
    results = store.results(study.id)
    assert len(results) == 6
    fm = [r for r in results if r.model == "fm"]
    assert fm and all(r.state == "FAIL" and r.reason == "RuntimeError: boom in forward" for r in fm)
    assert all(r.state == "COMPLETE" for r in results if r.model == "lr")
    assert {a.model for a in store.artifacts(study.id)} == {"lr"}


def test_a_worker_stops_with_a_message_after_too_many_failures_in_a_row(home, monkeypatch):
    from automl.search.objective import MAX_FAILURES_IN_A_ROW
    from automl.search.worker import run_worker
    from models.linear import FactorizationMachine

    monkeypatch.setattr(FactorizationMachine, "forward", broken_forward)
    store, study = tiny_study(home, ["fm"], 3 * MAX_FAILURES_IN_A_ROW, "hopeless")
    assert run_worker(store, study.id, home) == 2
    assert len(store.results(study.id)) == MAX_FAILURES_IN_A_ROW
    (worker,) = store.workers(study.id)
    assert worker.status == "failed" and f"last {MAX_FAILURES_IN_A_ROW} trials all failed" in worker.message
    assert "boom in forward" in worker.message


def test_a_failing_ensemble_rebuild_costs_neither_the_trial_nor_the_worker(home, monkeypatch):
    from automl.search import ensembles
    from automl.search.worker import run_worker

    def broken(*args):
        raise ValueError("ensemble boom")

    monkeypatch.setattr(ensembles, "refresh", broken)
    store, study = tiny_study(home, ["lr", "fm"], 4, "noensemble")
    assert run_worker(store, study.id, home) == 0
    assert [r.state for r in store.results(study.id)] == ["COMPLETE"] * 4
    assert "ensemble could not be rebuilt" in store.find_study(study.id).message


def test_a_result_and_its_weights_are_written_together_or_not_at_all(home, monkeypatch):
    import storage.store
    from storage.tables import ArtifactRow, TrialResultRow

    store, study = tiny_study(home, ["lr"], 1, "atomic")
    result = TrialResultRow(study_id=study.id, trial_number=0, model="lr", state="COMPLETE", params_json="{}")
    best = ArtifactRow(study_id=study.id, model="lr", trial_number=0, value=0.7, config_json="{}", weights=b"w",
                       sha256="x", weights_format="safetensors")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(storage.store, "_keep_if_best", crash)
    try:
        store.finish_trial(result, best, maximize=True)
    except OSError:
        pass
    assert store.results(study.id) == [] and store.artifacts(study.id) == []
    monkeypatch.undo()
    assert store.finish_trial(result, best, maximize=True)
    assert [r.state for r in store.results(study.id)] == ["COMPLETE"] and len(store.artifacts(study.id)) == 1


def test_an_ensemble_built_from_outdated_members_is_not_stored(home):
    from storage.tables import ArtifactRow, TrialResultRow

    store, study = tiny_study(home, ["lr", "fm"], 1, "stale")
    def keep(model: str, trial: int, value: float) -> None:
        result = TrialResultRow(study_id=study.id, trial_number=trial, model=model, state="COMPLETE", params_json="{}")
        store.finish_trial(result, ArtifactRow(study_id=study.id, model=model, trial_number=trial, value=value,
                                               config_json="{}", weights=b"", sha256="", weights_format="none"),
                           maximize=True, outputs=b"o")

    keep("lr", 0, 0.6)
    keep("fm", 1, 0.6)
    assert store.save_ensemble(study.id, '{"v": 1}', members={"lr": 0, "fm": 1})
    keep("fm", 2, 0.7)
    assert not store.save_ensemble(study.id, '{"v": 2}', members={"lr": 0, "fm": 1})     # read before trial 2
    assert store.ensemble(study.id).result_json == '{"v": 1}'
    assert store.save_ensemble(study.id, '{"v": 3}', members={"lr": 0, "fm": 2})


def test_a_database_other_than_sqlite_or_postgresql_is_refused_with_a_message(home, capsys):
    from automl.cli import main

    assert main(["--home", str(home), "--db", "mysql+pymysql://root@127.0.0.1/test", "datasets"]) == 2
    error = capsys.readouterr().err
    assert "mysql databases are not supported" in error and "PostgreSQL" in error


def test_saving_a_file_again_with_other_roles_makes_a_new_version_and_leaves_the_study_alone(home):
    import json

    from automl.data import datasets
    from automl.features.prepare import stored_split
    from automl.search.worker import run_worker

    store, study = tiny_study(home, ["lr"], 2, "versioned")
    first = store.find_dataset(study.dataset_id)
    split_before = stored_split(store, first, home)
    frame = datasets.load_frame(store, first, home)
    inspection = datasets.inspect(frame.to_csv(index=False).encode(), "versioned.csv")
    assert datasets.save(store, inspection).id == first.id                 # same file, same roles: the same version
    other = datasets.save(store, inspection, inspection.schema.with_roles({"shape": "ignore"}), name="versioned")
    assert other.id != first.id and other.name == "versioned-2"
    assert store.find_dataset(first.id).schema_json == first.schema_json   # the study's version never changes
    assert run_worker(store, study.id, home) == 0                          # the study runs on after the re-save
    (artifact,) = store.artifacts(study.id)
    fields = [f["name"] for f in json.loads(artifact.config_json)["spec"]["fields"]]
    assert "shape" in fields
    assert (stored_split(store, store.find_dataset(first.id), home) == split_before).all()


# -- liveness from the database ---------------------------------------------------------------------

def age_worker(store, worker_id: int, seconds: float) -> None:
    """Set the worker's heartbeat ``seconds`` before the database's clock."""
    from datetime import timedelta

    from storage.tables import WorkerRow

    with store.session() as s:
        s.execute(sa.update(WorkerRow).where(WorkerRow.id == worker_id)
                  .values(heartbeat_at=store.db_now() - timedelta(seconds=seconds)))


def test_a_remote_worker_lives_by_its_heartbeat_on_the_database_clock(home, monkeypatch):
    from automl.search.liveness import Heartbeat, alive

    monkeypatch.setenv("CROSSBOARD_HEARTBEAT_S", "1")
    monkeypatch.setenv("CROSSBOARD_GRACE_S", "2")
    store, study = tiny_study(home, ["lr"], 1, "beating")
    worker_id = store.add_worker(study.id, "another-machine", 1)
    row = lambda: next(w for w in store.workers(study.id) if w.id == worker_id)
    assert alive(row(), store.db_now())
    heartbeat = Heartbeat(store, worker_id, interval=0.2).start()
    try:
        time.sleep(3.0)                 # one long epoch: no per-epoch stamp, only the heartbeat thread's
        assert alive(row(), store.db_now())
    finally:
        heartbeat.stop()
    age_worker(store, worker_id, 5)
    assert not alive(row(), store.db_now())


def test_settling_marks_a_lost_worker_and_queues_its_trial_again(home, monkeypatch):
    import optuna
    from optuna.trial import TrialState

    from automl.search.liveness import settle_study
    from automl.search.optuna_storage import optuna_storage

    monkeypatch.setenv("CROSSBOARD_GRACE_S", "30")
    store, study = tiny_study(home, ["lr"], 4, "lost")
    optuna_study = optuna.load_study(study_name=study.optuna_name, storage=optuna_storage(store.url))
    lr = {"lr:lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    first, second = optuna_study.ask(lr), optuna_study.ask(lr)
    gone = store.add_worker(study.id, "another-machine", 4242)
    store.update_worker(gone, status="running", trial_number=first.number)
    living = store.add_worker(study.id, "a-third-machine", 4343)
    store.update_worker(living, status="running", trial_number=second.number)
    age_worker(store, gone, 60)
    assert settle_study(store, study.id) == {"lost": [gone], "requeued": [first.number], "status": "created"}
    workers = {w.id: w for w in store.workers(study.id)}
    assert workers[gone].status == "lost" and "stopped beating" in workers[gone].message
    trials = optuna_study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]
    assert trials[2].params == first.params                  # the lost trial, queued for the living worker
    age_worker(store, living, 60)          # the last worker is lost too: its trial waits for the next worker
    assert settle_study(store, study.id) == {"lost": [living], "requeued": [second.number],
                                             "status": "waiting for workers"}
    trials = optuna_study.get_trials(deepcopy=False)
    assert [t.state for t in trials][:2] == [TrialState.FAIL, TrialState.FAIL]
    assert trials[-1].state == TrialState.WAITING and trials[-1].params == second.params


def test_a_study_no_worker_joined_fails_with_the_end_of_the_worker_logs(home, monkeypatch):
    from automl.search import liveness

    store, study = tiny_study(home, ["lr"], 1, "orphan")
    assert liveness.settle_study(store, study.id, home=home)["status"] == "created"     # within the deadline
    monkeypatch.setattr(liveness, "START_DEADLINE_S", -1)
    (home / "logs").mkdir(exist_ok=True)
    (home / "logs" / f"study-{study.id}-worker-99-0.log").write_text("Traceback (most recent call last):\n"
                                                                     "ImportError: libcuda.so.1 missing\n")
    assert liveness.settle_study(store, study.id, home=home)["status"] == "failed"
    message = store.find_study(study.id).message
    assert "no worker joined the study" in message and "ImportError: libcuda.so.1 missing" in message


def test_crossboard_settle_reports_what_it_did(home):
    from cli_helpers import crossboard

    store, study = tiny_study(home, ["lr"], 1, "cli-settle")
    gone = store.add_worker(study.id, "another-machine", 4242)
    age_worker(store, gone, 3600)
    done = crossboard(home, "settle", "cli-settle")
    assert done.returncode == 0, done.stderr
    assert f"lost workers {gone}" in done.stdout and "status waiting for workers" in done.stdout
    assert "crossboard worker cli-settle" in done.stdout          # the budget is not spent: how to go on


@pytest.mark.slow
def test_four_workers_and_a_polling_reader_share_sqlite_without_lock_errors(home, tmp_path):
    """4 workers × 100 short trials while the leaderboard is read every 0.5 s: no "database is
    locked" anywhere, every trial recorded, and the reader's p95 latency under 1 s."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from cli_helpers import crossboard

    from automl.reporting.leaderboard import read_leaderboard

    ROOT = Path(__file__).resolve().parents[1]

    store, study = tiny_study(home, ["lr"], 1, "seed-data")
    dataset = store.find_dataset(study.dataset_id)
    log = tmp_path / "tune.log"
    with log.open("w") as out:
        tune = subprocess.Popen([sys.executable, "-m", "automl.cli", "tune", dataset.name, "--models", "lr",
                                 "--trials", "400", "--workers", "4", "--epochs", "1", "--seeds", "0", "--name", "busy"],
                                cwd=ROOT, env={**os.environ, "CROSSBOARD_THREADS": "1"}, stdout=out,
                                stderr=subprocess.STDOUT)
        latencies, errors, deadline = [], [], time.monotonic() + 480
        try:
            while tune.poll() is None and time.monotonic() < deadline:
                busy = store.find_study("busy")
                if busy is not None:
                    tick = time.perf_counter()
                    try:
                        read_leaderboard(store, busy)
                    except sa.exc.OperationalError as error:
                        errors.append(str(error))
                    latencies.append(time.perf_counter() - tick)
                time.sleep(0.5)
        finally:
            if tune.poll() is None:
                tune.kill()
    output = log.read_text()
    assert tune.returncode == 0, output[-3000:]
    assert "locked" not in output and not errors, errors[:3]
    busy = store.find_study("busy")
    recorded = [r for r in store.results(busy.id) if r.state in ("COMPLETE", "PRUNED")]
    assert len(recorded) >= 400, len(recorded)
    assert len(latencies) >= 10
    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    assert p95 < 1.0, f"p95 {p95:.2f} s over {len(latencies)} reads"
    assert crossboard(home, "leaderboard", "busy", "--format", "json").returncode == 0
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


DIE_IN_THE_FINAL_WRITE = '''
import os
import storage.store

_keep = storage.store._keep_if_best


def _keep_then_die(session, row, maximize, outputs):
    kept = _keep(session, row, maximize, outputs)
    session.flush()                    # the result row and the weights are sent, not committed
    os.kill(os.getpid(), 9)
    return kept


storage.store._keep_if_best = _keep_then_die
'''


@pytest.mark.slow
def test_a_worker_killed_in_its_final_write_leaves_no_half_written_trial(home, tmp_path):
    """SIGKILL inside the transaction that writes a trial's result and weights: nothing of that
    trial is stored, another worker runs it again, and the database file is intact."""
    from pathlib import Path

    import optuna
    from cli_helpers import crossboard
    from optuna.trial import TrialState

    from automl.search.optuna_storage import optuna_storage

    store, study = tiny_study(home, ["lr"], 1, "seed-data")
    dataset = store.find_dataset(study.dataset_id)
    assert crossboard(home, "tune", dataset.name, "--models", "lr", "--trials", "3", "--workers", "0",
                      "--seeds", "0", "--epochs", "1", "--name", "killed").returncode == 0
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(DIE_IN_THE_FINAL_WRITE)
    root = str(Path(__file__).resolve().parents[1])
    fast = {"CROSSBOARD_HEARTBEAT_S": "1", "CROSSBOARD_GRACE_S": "2"}
    dying = crossboard(home, "worker", "killed", PYTHONPATH=f"{root}:{hook}", **fast)
    assert dying.returncode == -9, dying.stdout + dying.stderr
    killed = store.find_study("killed")
    assert store.results(killed.id) == [] and store.artifacts(killed.id) == []       # nothing half-written
    time.sleep(3)                      # the dead worker's heartbeat goes stale
    assert crossboard(home, "worker", "killed", **fast).returncode == 0
    trials = optuna.load_study(study_name=killed.optuna_name, storage=optuna_storage(store.url)).get_trials()
    assert trials[0].state == TrialState.FAIL and trials[0].number not in {r.trial_number for r in
                                                                            store.results(killed.id)}
    complete = [r for r in store.results(killed.id) if r.state == "COMPLETE"]
    assert len(complete) == 3 and trials[1].params == trials[0].params       # the killed trial ran again
    best = {a.model: a.trial_number for a in store.artifacts(killed.id)}
    assert best["lr"] in {r.trial_number for r in complete}
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_progress_names_each_workers_phase_apart_from_its_model(home):
    from automl.reporting.progress import study_progress
    from storage.tables import WorkerPhase, WorkerStatus

    store, study = tiny_study(home, ["lr"], 4, "phases")
    training, diagnosing, rerunning = (store.add_worker(study.id, "here", pid) for pid in (1, 2, 3))
    store.update_worker(training, status=WorkerStatus.RUNNING, phase=WorkerPhase.TRIAL, trial_number=3, model="lr",
                        epoch=2)
    store.update_worker(diagnosing, status=WorkerStatus.RUNNING, phase=WorkerPhase.DIAGNOSTICS, trial_number=1,
                        model="lr", epoch=None)
    store.update_worker(rerunning, status=WorkerStatus.RUNNING, phase=WorkerPhase.SEED_RERUNS)
    progress = study_progress(store, study)
    assert [(a.id, a.phase, a.model) for a in progress.running] == [
        (training, "trial", "lr"), (diagnosing, "diagnostics", "lr"), (rerunning, "seed reruns", None)]
    line = progress.line(study.metric)
    assert f"w{training}: trial 3 lr epoch 2" in line and f"w{diagnosing}: diagnostics of trial 1 lr" in line
    assert f"w{rerunning}: seed reruns" in line and f"w{rerunning}: seed reruns of" not in line
    assert {w.id: w.status for w in progress.workers} == dict.fromkeys((training, diagnosing, rerunning), "running")
