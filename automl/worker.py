"""A long-lived worker process: loads the data once, then runs trials of one study until the
budget is spent, the deadline passes or a stop is requested (after the current trial).

Start one with ``crossboard worker STUDY`` (any machine that reaches the database URL) or let
``crossboard tune`` / the UI start several (``launch_workers``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from automl.datasets import get_dataset
from automl.device import describe, pick_device
from automl.errors import CrossBoardError, NotFoundError
from automl.objective import FAILURE_ATTR, TRIAL_FAILURES, Objective
from automl.prepare import prepared_data
from automl.study import StudyConfig, optuna_storage
from storage import Store
from storage.store import age_seconds
from storage.tables import StudyRow, utcnow

ACTIVE = ("starting", "loading", "running")
LOST_AFTER_S = 600


def counted(trial) -> bool:
    """Trials that use up the budget: finished ones, and failures with a recorded reason
    (a trial failed by a lost heartbeat is re-queued instead, so it does not count)."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and FAILURE_ATTR in trial.user_attrs)


class Budget:
    """Optuna callback: stop this worker when the trial budget is spent or a stop was asked."""

    def __init__(self, store: Store, study_id: int, n_trials: int | None):
        self.store, self.study_id, self.n_trials = store, study_id, n_trials

    def exhausted(self, study: optuna.Study) -> bool:
        if self.store.find_study(self.study_id).stop_requested:
            return True
        if self.n_trials is None:
            return False
        return sum(counted(t) for t in study.get_trials(deepcopy=False)) >= self.n_trials

    def __call__(self, study: optuna.Study, trial) -> None:
        if self.exhausted(study):
            study.stop()


def make_sampler(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.max_epochs)
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def seconds_left(study: StudyRow, config: StudyConfig) -> float | None:
    if config.minutes is None:
        return None
    return config.minutes * 60 - (age_seconds(study.started_at) or 0.0)


def worker_threads(local_workers: int) -> int:
    """``$CROSSBOARD_THREADS``, else the cores shared fairly among this machine's workers."""
    share = (os.cpu_count() or 1) // max(local_workers, 1)
    return int(os.environ.get("CROSSBOARD_THREADS", max(1, share)))


def run_worker(store: Store, study_ref: str | int, home: Path) -> int:
    """Run trials for the study; returns a process exit code (0 also when stopped)."""
    study_row = store.find_study(study_ref)
    if study_row is None:
        raise NotFoundError(f"no study called {study_ref!r}; see `crossboard leaderboard` for the studies")
    config = StudyConfig.from_json(study_row.config_json)
    worker_id = store.add_worker(study_row.id, socket.gethostname(), os.getpid())
    code = 0
    try:
        torch.set_num_threads(worker_threads(config.workers))
        device = pick_device(config.device)
        store.update_worker(worker_id, status="loading", device=describe(device))
        data = prepared_data(store, get_dataset(store, study_row.dataset_id), home, task=study_row.task,
                             candidates=config.candidates)
        names = [f.name for f in data.spec.fields]
        pairs = tuple(tuple(sorted((names.index(a), names.index(b)))) for a, b in config.wide_pairs)
        data = data.with_spec(replace(data.spec, user_pairs=pairs)).to(device)
        if study_row.started_at is None:
            store.update_study(study_row.id, status="running", started_at=utcnow())
            study_row = store.find_study(study_row.id)
        study = optuna.load_study(study_name=study_row.optuna_name, storage=optuna_storage(store.url),
                                  sampler=make_sampler(config.seed * 1000 + worker_id), pruner=make_pruner(config))
        budget = Budget(store, study_row.id, config.n_trials)
        timeout = seconds_left(study_row, config)
        if not budget.exhausted(study) and (timeout is None or timeout > 0):
            deadline = None if timeout is None else time.time() + timeout
            study.optimize(Objective(store, study_row, config, data, worker_id, deadline), timeout=timeout,
                           callbacks=[budget], catch=TRIAL_FAILURES, gc_after_trial=False)
        store.update_worker(worker_id, status="finished", trial_number=None, model=None, epoch=None)
    except CrossBoardError as error:
        store.update_worker(worker_id, status="failed", message=str(error))
        store.update_study(study_row.id, message=str(error))
        code = 2
    except Exception as error:  # noqa: BLE001 -- an unexpected bug: keep the worker's story in the database
        story = traceback.format_exc()
        print(story, file=sys.stderr, flush=True)
        store.update_worker(worker_id, status="failed", message=f"{error!r}\n{story[-4000:]}")
        code = 1
    finally:
        settle_study(store, study_row.id, exclude=worker_id)
    return code


def alive(worker) -> bool:
    """Whether a worker row belongs to a process that still runs."""
    if worker.status not in ACTIVE:
        return False
    if worker.host == socket.gethostname():
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not zombie(worker.pid)
    return (age_seconds(worker.heartbeat_at) or 0) < LOST_AFTER_S


def fail_running_trial(store: Store, study: StudyRow, trial_number: int) -> None:
    """Fail the Optuna trial a dead worker left RUNNING (no need to wait for its heartbeat)."""
    storage = optuna_storage(store.url)
    optuna_id = storage.get_study_id_from_name(study.optuna_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(optuna_id, trial_number)
    if storage.get_trial(trial_id).state == TrialState.RUNNING:
        storage.set_trial_state_values(trial_id, TrialState.FAIL)


def zombie(pid: int) -> bool:
    """A process that exited but was not yet reaped by its parent (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def settle_study(store: Store, study_id: int, exclude: int | None = None) -> None:
    """Mark workers that died as lost (failing the trial each left running); when none is
    left running, mark the study done."""
    running = 0
    study, workers = store.find_study(study_id), store.workers(study_id)
    for worker in workers:
        if worker.id == exclude or worker.status not in ACTIVE:
            continue
        if alive(worker):
            running += 1
            continue
        store.update_worker(worker.id, status="lost", message="the process ended without finishing its trial")
        if worker.trial_number is not None:
            fail_running_trial(store, study, worker.trial_number)
    if running == 0 and workers:
        status = "stopped" if study.stop_requested else "finished"
        store.update_study(study_id, status=status, finished_at=utcnow())


def launch_workers(url: str, study_id: int, home: Path, count: int) -> list[subprocess.Popen]:
    """Start ``count`` worker processes that outlive the caller (own session, logs in home/logs)."""
    logs = Path(home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for n in range(count):
        with open(logs / f"study-{study_id}-worker-{os.getpid()}-{n}.log", "ab") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "automl.cli", "--home", str(home), "--db", url, "worker", str(study_id)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=str(Path(__file__).resolve().parent.parent),
            ))
    return procs
