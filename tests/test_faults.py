"""Faults: a worker that dies, at every point of a trial's end, leaves one truth (CrossBoard's row)
and its trial queued again whoever settles it, the study waiting for workers; a full disk on every
write path gives a message naming the place and the space, keeps nothing half-written and leaves
no partial file; settings that cannot work are refused before a study exists."""

from __future__ import annotations

import errno
import json
import os
import socket
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import sqlalchemy as sa
from cli_helpers import crossboard
from optuna.trial import TrialState

from automl.cli import main
from automl.data import datasets
from automl.errors import disk_full
from automl.search.config import StudyConfig
from automl.search.liveness import WAITING, settle_study
from automl.search.optuna_storage import MAX_RETRY, optuna_storage
from automl.search.study import create_study
from automl.search.worker import run_worker
from storage import Store
from storage.tables import TrialResultRow

ROOT = Path(__file__).resolve().parents[1]
FULL = "database or disk is full"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, home, monkeypatch) -> str:
    """The URL of a fresh database of each supported kind (the home's SQLite file, or PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{home / 'crossboard.db'}"
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("CROSSBOARD_DB", url)
    return url


def small_dataset(store: Store, name: str):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"colour": rng.choice(list("abcde"), 600), "shape": rng.choice(list("xyz"), 600),
                          "click": rng.integers(0, 2, 600)})
    return datasets.save(store, datasets.inspect(frame.to_csv(index=False).encode(), f"{name}.csv"), name=name)


def small_study(store: Store, name: str, models: list[str], n_trials: int):
    return create_study(store, small_dataset(store, f"{name}-data"),
                        StudyConfig(models=models, n_trials=n_trials, max_epochs=1, seeds=0), name=name)


def optuna_trials(store: Store, study) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study.optuna_name, storage=optuna_storage(store.url)).get_trials()


def dead_pid() -> int:
    """The pid of a process of this machine that has ended."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def died_in(store: Store, study, trial_number: int) -> int:
    """A worker of this machine whose process ended while it ran ``trial_number``; -> its id."""
    worker = store.add_worker(study.id, socket.gethostname(), dead_pid())
    store.update_worker(worker, status="running", trial_number=trial_number)
    return worker


def full_database(*args, **kwargs):
    raise sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError(FULL))


def retry_of(trials, number: int):
    (retry,) = (t for t in trials if t.system_attrs.get("failed_trial") == number)
    return retry


def ran_again(trials, number: int) -> bool:
    """Whether the retry of trial ``number`` completed with its fixed parameters (a paper default)."""
    retry, fixed = retry_of(trials, number), trials[number].system_attrs["fixed_params"]
    return retry.state == TrialState.COMPLETE and retry.params["model"] == fixed["model"] and all(
        retry.params[k] == v for k, v in fixed.items() if k in retry.params)


# -- a worker that dies ----------------------------------------------------------------------------

def test_the_trial_of_a_sole_worker_that_died_runs_when_a_worker_joins_later(db_url, home, capsys):
    store = Store(db_url)
    study = small_study(store, "sole", ["lr"], 2)
    default = optuna.load_study(study_name=study.optuna_name, storage=optuna_storage(db_url)).ask()
    store.allocate(study.id, default.number, lambda given: "lr")     # its worker had started it ...
    died_in(store, study, default.number)                    # ... the paper default, enqueued first
    assert main(["--home", str(home), "--db", db_url, "settle", "sole"]) == 0
    out = capsys.readouterr().out
    assert f"trials queued again {default.number}; status {WAITING}" in out
    assert "no worker is running (0 of 2 trials recorded)" in out and "`crossboard worker sole`" in out
    assert store.find_study(study.id).status == WAITING
    assert run_worker(store, study.id, home) == 0
    trials = optuna_trials(store, study)
    assert ran_again(trials, default.number)
    assert sorted(r.trial_number for r in store.results(study.id) if r.state == "COMPLETE") == sorted(
        t.number for t in trials if t.state == TrialState.COMPLETE)
    assert retry_of(trials, default.number).number in {r.trial_number for r in store.results(study.id)}
    assert store.find_study(study.id).status == "finished"
    assert store.allocations(study.id) == {"lr": 2}         # the retry took the lost trial's place in the plan


def recorded(store: Store, study, number: int, auc: float) -> None:
    store.save_result(TrialResultRow(study_id=study.id, trial_number=number, model="lr", state="COMPLETE",
                                     params_json="{}", val_json=json.dumps({"auc": auc})))


def test_a_result_recorded_before_its_worker_died_is_told_to_optuna_not_run_again(db_url, home):
    store = Store(db_url)
    study = small_study(store, "told", ["lr"], 2)
    trial = optuna.load_study(study_name=study.optuna_name, storage=optuna_storage(db_url)).ask()
    recorded(store, study, trial.number, 0.61)                 # killed after the result, before Optuna's tell
    died_in(store, study, trial.number)
    assert settle_study(store, study.id, home=home)["requeued"] == []
    (told,) = optuna_trials(store, study)
    assert told.state == TrialState.COMPLETE and told.value == 0.61
    assert run_worker(store, study.id, home) == 0
    trials = optuna_trials(store, study)
    assert len(store.results(study.id)) == 2 == sum(t.state == TrialState.COMPLETE for t in trials)


def test_a_retry_of_a_trial_that_recorded_its_result_takes_that_result_instead_of_running(db_url, home):
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    store = Store(db_url)
    study = small_study(store, "taken", ["lr"], 2)
    storage = optuna_storage(db_url)
    optuna_study = optuna.load_study(study_name=study.optuna_name, storage=storage)
    trial = optuna_study.ask()
    recorded(store, study, trial.number, 0.61)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)      # Optuna's stale-trial check came first
    RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(optuna_study, storage.get_trial(trial._trial_id))
    assert run_worker(store, study.id, home) == 0
    trials = optuna_trials(store, study)
    retry = retry_of(trials, trial.number)
    assert retry.state == TrialState.COMPLETE and retry.value == 0.61
    assert retry.user_attrs["result_of_trial"] == trial.number
    numbers = [r.trial_number for r in store.results(study.id)]
    assert len(numbers) == 2 and trial.number in numbers and retry.number not in numbers


KILL_HOOK = '''
import os

import optuna.study._optimize as optimize
import storage.store

POINT, NUMBER = os.environ["CB_KILL_POINT"], int(os.environ["CB_KILL_TRIAL"])


def die(point, number):
    if (point, number) == (POINT, NUMBER):
        os.kill(os.getpid(), 9)


_finish = storage.store.Store.finish_trial


def finish_trial(self, result, *args, **kwargs):
    die("before the result write", result.trial_number)
    return _finish(self, result, *args, **kwargs)


_tell = optimize._tell_with_warning


def tell(*args, **kwargs):
    die("before the tell", kwargs["trial"].number)
    told = _tell(*args, **kwargs)
    die("after the tell", kwargs["trial"].number)
    return told


storage.store.Store.finish_trial = finish_trial
optimize._tell_with_warning = tell
'''


@pytest.mark.slow
@pytest.mark.parametrize("database, point", [("sqlite", "before the result write"), ("sqlite", "before the tell"),
                                             ("sqlite", "after the tell"), ("postgresql", "before the tell")])
def test_a_worker_killed_at_any_point_of_a_trials_end_leaves_one_truth(request, home, tmp_path, capsys, database,
                                                                       point):
    """SIGKILL before the result's write, between it and Optuna's tell, or after the tell: the
    killed trial is recorded once or runs again, Optuna agrees with every recorded result, the
    study ends with exactly its trials, and the ensemble never counts a half-finished trial."""
    from automl.search.ensembles import stored

    url = request.getfixturevalue("postgres_url") if database == "postgresql" else f"sqlite:///{home / 'crossboard.db'}"
    store = Store(url)
    study = small_study(store, "killed", ["lr", "fm"], 4)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_HOOK)
    dying = crossboard(home, "worker", "killed", CROSSBOARD_DB=url, PYTHONPATH=f"{ROOT}:{hook}",
                       CB_KILL_POINT=point, CB_KILL_TRIAL="1")       # trial 1: fm's default, after lr's
    assert dying.returncode == -9, dying.stdout + dying.stderr
    assert (1 in {r.trial_number for r in store.results(study.id)}) == (point != "before the result write")
    assert optuna_trials(store, study)[1].state == (TrialState.COMPLETE if point == "after the tell" else
                                                    TrialState.RUNNING)
    assert stored(store, study.id) is None                  # built only once a trial is told: here, never yet
    assert main(["--home", str(home), "--db", url, "settle", "killed"]) == 0
    assert f"status {WAITING}" in capsys.readouterr().out
    assert run_worker(store, study.id, home) == 0

    results, trials = store.results(study.id), optuna_trials(store, study)
    assert len(results) == 4 and {r.state for r in results} == {"COMPLETE"}
    for row in results:                                     # Optuna agrees with every recorded result
        assert trials[row.trial_number].state == TrialState.COMPLETE
        assert trials[row.trial_number].value == json.loads(row.val_json)["auc"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    if point == "before the result write":                   # fm's paper default ran again
        assert trials[1].state == TrialState.FAIL and ran_again(trials, 1)
    ensemble = stored(store, study.id)
    assert ensemble is not None and set(ensemble.trials.values()) <= {r.trial_number for r in results}
    assert store.find_study(study.id).status == "finished"


# -- a full disk -----------------------------------------------------------------------------------

def test_a_full_disk_is_recognised_from_the_system_and_either_database():
    psycopg = pytest.importorskip("psycopg")
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError(FULL)))
    assert disk_full(sa.exc.OperationalError("INSERT", {}, psycopg.errors.DiskFull("could not extend file")))
    assert not disk_full(sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")))


def no_space(*args):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_encoding_fails_the_worker_and_the_study_with_a_message(home, monkeypatch):
    store = Store()
    study = small_study(store, "encoding", ["lr"], 2)
    with monkeypatch.context() as patch:
        patch.setattr(os, "posix_fallocate", no_space)     # what a mapped file met on a full disk: else SIGBUS
        assert run_worker(store, study.id, home) == 2
    (worker,) = store.workers(study.id)
    assert worker.status == "failed" and "encoding dataset 'encoding-data' failed" in worker.message
    assert f"the disk holding {home / 'cache'} is full (" in worker.message and "MB free" in worker.message
    assert not list((home / "cache").iterdir())                 # nothing half-written stays
    failed = store.find_study(study.id)
    assert failed.status == "failed" and worker.message in failed.message and "crossboard worker encoding" in failed.message
    assert run_worker(store, study.id, home) == 0 and store.find_study(study.id).status == "finished"


def test_the_partial_files_of_dead_processes_are_removed_and_the_next_study_runs(home):
    store = Store()
    study = small_study(store, "after", ["lr"], 1)
    host = socket.gethostname()
    stale = home / "cache" / f"old-v4.{host}-{dead_pid()}.part"
    stale.mkdir(parents=True)
    (stale / "train.cat.npy").write_bytes(bytes(2**20))
    writing = home / "cache" / f"other-v4.{host}-{os.getpid()}.part"       # a process that still runs
    writing.mkdir()
    assert run_worker(store, study.id, home) == 0
    assert not stale.exists() and writing.exists()


def test_a_full_database_while_recording_a_trial_stops_the_worker_and_the_trial_runs_again(home, monkeypatch):
    store = Store()
    study = small_study(store, "recording", ["lr"], 2)
    with monkeypatch.context() as patch:
        patch.setattr(Store, "finish_trial", full_database)
        assert run_worker(store, study.id, home) == 2
    (worker,) = store.workers(study.id)
    assert worker.message.startswith(f"recording trial 0 failed: the disk holding {home} is full")
    assert store.results(study.id) == [] and store.find_study(study.id).status == "failed"
    assert run_worker(store, study.id, home) == 0
    trials = optuna_trials(store, study)
    assert trials[0].state == TrialState.FAIL and retry_of(trials, 0).state == TrialState.COMPLETE
    assert len(store.results(study.id)) == 2 and store.find_study(study.id).status == "finished"


def big_csv(path: Path) -> Path:
    rng = np.random.default_rng(1)
    pd.DataFrame({"user": rng.integers(0, 50, 3000), "click": rng.integers(0, 2, 3000)}).to_csv(path, index=False)
    return path


def test_a_full_disk_while_streaming_an_upload_leaves_no_partial_file(home, tmp_path, monkeypatch, capsys):
    import pyarrow.parquet as pq

    monkeypatch.setattr(pq.ParquetWriter, "write_table", lambda self, table, *args: no_space())
    assert main(["--home", str(home), "ingest", str(big_csv(tmp_path / "big.csv")), "--memory-mb", "0.01"]) == 2
    error = capsys.readouterr().err
    assert "reading 'big.csv' into its Parquet copy failed" in error and f"{home / 'incoming'} is full" in error
    assert "MB needed" in error and not list((home / "incoming").iterdir())


def test_a_full_database_while_storing_an_upload_says_so_and_drops_the_spooled_copy(home, tmp_path, monkeypatch,
                                                                                     capsys):
    monkeypatch.setattr(Store, "add_dataset", full_database)
    assert main(["--home", str(home), "ingest", str(big_csv(tmp_path / "big.csv")), "--memory-mb", "0.01"]) == 2
    error = capsys.readouterr().err
    assert "storing dataset 'big' failed" in error and f"the disk holding {home} is full" in error
    assert not list((home / "incoming").iterdir())


def test_settle_on_a_full_disk_says_so_frees_what_dead_workers_left_and_later_says_why_they_ended(home, monkeypatch,
                                                                                                  capsys):
    store = Store()
    study = small_study(store, "settling", ["lr"], 2)
    worker = died_in(store, study, 0)
    stale = home / "cache" / f"encoded-v4.{socket.gethostname()}-{dead_pid()}.part"
    stale.mkdir(parents=True)
    with monkeypatch.context() as patch:
        patch.setattr(Store, "update_worker", full_database)
        assert main(["--home", str(home), "settle", "settling"]) == 2
    error = capsys.readouterr().err
    assert f"settling study 'settling' failed: the disk holding {home} is full" in error and "Traceback" not in error
    assert not stale.exists()                        # what a dead worker left is gone: its space is free again
    assert main(["--home", str(home), "settle", "settling"]) == 0
    out = capsys.readouterr().out
    assert f"status {WAITING}" in out and f"worker {worker} lost: the worker stopped beating" in out
    assert "`crossboard worker settling`" in out


@pytest.mark.slow
def test_tune_says_why_its_workers_ended_on_a_full_disk(home, tmp_path):
    store = Store()
    small_dataset(store, "tight")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text("import errno, os\n\n\ndef full(*args):\n"
                                           "    raise OSError(errno.ENOSPC, 'No space left on device')\n\n\n"
                                           "os.posix_fallocate = full\n")
    done = crossboard(home, "tune", "tight", "--models", "lr", "--trials", "2", "--epochs", "1", "--seeds", "0",
                      "--name", "tight-study", PYTHONPATH=str(hook))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"the disk holding {home / 'cache'} is full" in done.stderr and "Traceback" not in done.stderr
    assert "study 'tight-study' failed" in done.stderr and "`crossboard worker tight-study`" in done.stderr
    (log,) = (home / "logs").iterdir()
    assert "is full" in log.read_text()
    assert store.find_study("tight-study").status == "failed"


# -- settings that cannot work ---------------------------------------------------------------------

@pytest.mark.parametrize("flags, says", [(["--epochs", "0"], "--epochs 0 cannot work"),
                                         (["--patience", "0"], "--patience 0 would stop every trial"),
                                         (["--seeds", "-1"], "--seeds -1 cannot work"),
                                         (["--device", "tpu:0"], "device 'tpu:0' is not one CrossBoard trains on")])
def test_settings_that_cannot_work_are_refused_before_a_study_exists(home, capsys, flags, says):
    store = Store()
    small_dataset(store, "refused")
    assert main(["--home", str(home), "tune", "refused", "--models", "lr", "--trials", "2", "--workers", "0",
                 *flags]) == 2
    assert says in capsys.readouterr().err and store.studies() == []


def test_a_device_this_machine_lacks_is_refused_by_tune_and_fails_a_worker_with_a_message(home, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    store = Store()
    small_dataset(store, "gpu")
    assert main(["--home", str(home), "tune", "gpu", "--models", "lr", "--trials", "1", "--device", "cuda:7"]) == 2
    assert "device 'cuda:7': this machine has no CUDA GPU" in capsys.readouterr().err and store.studies() == []
    assert main(["--home", str(home), "tune", "gpu", "--models", "lr", "--trials", "1", "--device", "cuda:7",
                 "--workers", "0", "--name", "elsewhere"]) == 0          # for workers on machines with GPUs
    assert main(["--home", str(home), "worker", "elsewhere"]) == 2
    (worker,) = store.workers(store.find_study("elsewhere").id)
    assert worker.status == "failed" and "device 'cuda:7': this machine has no CUDA GPU" in worker.message
    assert "Traceback" not in capsys.readouterr().err
