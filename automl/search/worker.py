"""A long-lived worker process: loads the data once, then runs trials of one study until the
budget is spent, the deadline passes or a stop is requested (after the current trial).

Start one with ``crossboard worker STUDY`` (any machine that reaches the database URL) or let
``crossboard tune`` / the UI start several (``automl.search.control.launch_workers``)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
from pathlib import Path

import optuna
import sqlalchemy as sa
import torch

from automl.diagnostics.stored import store_failure, trial_diagnostics
from automl.errors import CrossBoardError, NotFoundError, disk_full, out_of_space, space_for
from automl.features.encode import EncodedData
from automl.online.run import run_online
from automl.online.stream import OnlineSettings
from automl.search import verdicts
from automl.search.allocation import Allocator, best_trials
from automl.search.budget import Budget, Halt, deadline, seconds_left
from automl.search.config import StudyConfig
from automl.search.data import study_data
from automl.search.liveness import WAITING, Heartbeat, settle_study, settle_workers
from automl.search.objective import TRIAL_FAILURES, Objective
from automl.search.optuna_storage import optuna_storage
from automl.search.reseed import run_reseeds
from automl.search.sampling import make_pruner, make_sampler
from automl.search.study import check_device
from automl.training.device import describe, pick_device
from storage import Store
from storage.db import database_place
from storage.tables import StudyRow, WorkerPhase, WorkerStatus, utcnow

RESUMED = ("created", WAITING, "failed")      # study statuses a joining worker turns to "running"


def worker_threads(local_workers: int) -> int:
    """``$CROSSBOARD_THREADS``, else the cores shared fairly among this machine's workers."""
    share = (os.cpu_count() or 1) // max(local_workers, 1)
    return int(os.environ.get("CROSSBOARD_THREADS", max(1, share)))


def diagnose_bests(store: Store, study_row: StudyRow, data: EncodedData, worker_id: int,
                   halt: Halt | None = None) -> None:
    """The diagnostics of each model's best trial that has none yet, from its stored weights, once
    the trials are done (not inside each trial, which they would make several seconds dearer; any
    other trial is diagnosed on demand), until ``halt`` says the phase is over (those left are made on
    demand). A fault is kept as that trial's diagnostics error."""
    for row in best_trials(store, study_row):
        if halt is not None and halt():
            return
        if store.diagnostics(study_row.id, row.trial_number):
            continue
        store.update_worker(worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.DIAGNOSTICS,
                            trial_number=row.trial_number, model=row.model, epoch=None)
        try:
            trial_diagnostics(store, study_row, data, row.trial_number)
        except Exception as error:   # noqa: BLE001 - any fault of the diagnostics is reported, not raised
            store_failure(store, study_row, row.trial_number, row.model, error)


def wait_for_trials(store: Store, study_row: StudyRow, study: optuna.Study, worker_id: int,
                    poll_s: float = 2.0) -> None:
    """Wait until no trial of the study runs (on any worker), so the online replays start from
    every model's final best trial; lost workers' trials are settled meanwhile."""
    store.update_worker(worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.WAITING, trial_number=None,
                        model=None, epoch=None)
    while study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        settle_workers(store, study_row, exclude=worker_id)
        time.sleep(poll_s)


def worker_device(study_device: str | None, own: str | None) -> torch.device:
    """The study's device when it names one (other than a bare "cuda"), else this worker's own
    (``crossboard worker --device``, given by the launcher to spread workers over GPUs), else the default."""
    return pick_device(own if own and study_device in (None, "cuda") else study_device)


def failure(error: Exception, store: Store, home: Path) -> tuple[int, str]:
    """(exit code, message) of the error that ended a worker: 2 and a message for one the user can
    act on (a full disk among them), 1 and the traceback for a bug."""
    if isinstance(error, CrossBoardError):
        return 2, str(error)
    if disk_full(error):
        where = database_place(store.url) if isinstance(error, sa.exc.DBAPIError) else home
        return 2, str(out_of_space(where, "the worker"))
    story = traceback.format_exc()
    return 1, f"{error!r}\n{story[-4000:]}"


def run_worker(store: Store, study_ref: str | int, home: Path, device: str | None = None) -> int:
    """Run trials for the study on ``device`` (see ``worker_device``); returns a process exit code
    (0 also when stopped)."""
    study_row = store.find_study(study_ref)
    if study_row is None:
        raise NotFoundError(f"no study called {study_ref!r}; see `crossboard leaderboard` for the studies")
    config = StudyConfig.from_json(study_row.config_json)
    with space_for(f"joining study {study_row.name!r}", database_place(store.url)):
        worker_id = store.add_worker(study_row.id, socket.gethostname(), os.getpid())
    heartbeat = Heartbeat(store, worker_id).start()
    code = 0
    try:
        settle_workers(store, study_row, exclude=worker_id)     # what dead workers left is queued for this one
        torch.set_num_threads(worker_threads(config.workers))
        device = worker_device(config.device, device)
        check_device(str(device))                   # one this machine lacks: a message, not a traceback
        store.update_worker(worker_id, status=WorkerStatus.LOADING, device=describe(device))
        data = study_data(store, study_row, config, home, device)
        study_row = store.find_study(study_row.id)
        if study_row.status in RESUMED:
            store.update_study(study_row.id, status="running", started_at=study_row.started_at or utcnow(),
                               finished_at=None, **({"message": ""} if study_row.status != "created" else {}))
            study_row = store.find_study(study_row.id)
        allocator = Allocator(store, study_row, config.models)
        study = optuna.load_study(study_name=study_row.optuna_name, storage=optuna_storage(store.url),
                                  sampler=make_sampler(config.seed * 1000 + worker_id, allocator),
                                  pruner=make_pruner(config))
        budget = Budget(store, study_row.id, config)
        timeout = seconds_left(study_row, config, WorkerPhase.TRIAL)
        if not budget.exhausted():
            objective = Objective(store, study_row, config, data, worker_id, allocator,
                                  deadline(study_row, config, WorkerPhase.TRIAL))
            study.optimize(objective, timeout=timeout, callbacks=[objective.after_trial, budget],
                           catch=TRIAL_FAILURES, gc_after_trial=False)
        verdicts.rebuild(store, study_row, data, "the trials")     # also a best kept by a worker that died

        def halt(phase: WorkerPhase) -> Halt:
            return Halt(store, study_row.id, deadline(study_row, config, phase))

        diagnose_bests(store, study_row, data, worker_id, halt(WorkerPhase.DIAGNOSTICS))
        if config.seeds and not halt(WorkerPhase.SEED_RERUNS)():
            store.update_worker(worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.SEED_RERUNS,
                                trial_number=None, model=None, epoch=None)
            run_reseeds(store, study_row, config, data, config.seeds, halt=halt(WorkerPhase.SEED_RERUNS))
            verdicts.rebuild(store, study_row, data, "the seed reruns")
        if config.online is not None and not halt(WorkerPhase.ONLINE_REPLAYS)():
            wait_for_trials(store, study_row, study, worker_id)
            store.update_worker(worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.ONLINE_REPLAYS,
                                trial_number=None, model=None, epoch=None)
            run_online(store, study_row, OnlineSettings.from_dict(config.online), data, home,
                       best_trials(store, study_row), config.max_epochs, config.patience, worker_id,
                       halt(WorkerPhase.ONLINE_REPLAYS))
        store.update_worker(worker_id, status=WorkerStatus.FINISHED, phase=None, trial_number=None, model=None,
                            epoch=None)
    except Exception as error:  # noqa: BLE001 -- keep the worker's story in its log and the database
        code, message = failure(error, store, home)
        record_failure(store, study_row, worker_id, message, to_study=code == 2)
    finally:
        heartbeat.stop()
        try:
            settle_study(store, study_row.id, exclude=worker_id, home=home)
        except Exception as error:  # noqa: BLE001 -- the next settle (any worker's, the UI's, the CLI's) does it
            print(f"settling the study failed: {failure(error, store, home)[1]}", file=sys.stderr, flush=True)
    return code


def record_failure(store: Store, study_row: StudyRow, worker_id: int, message: str, to_study: bool) -> None:
    """The message of the failure that ends this worker, in its log and its row (and, ``to_study``,
    on the study). A database as full as the disk takes none: the log and ``tune`` still tell."""
    with contextlib.suppress(OSError):
        print(message, file=sys.stderr, flush=True)
    try:
        store.update_worker(worker_id, status=WorkerStatus.FAILED, phase=None, message=message)
        if to_study:
            store.update_study(study_row.id, message=message)
    except Exception as error:  # noqa: BLE001
        with contextlib.suppress(OSError):
            print(f"this failure could not be recorded in the database: {error}", file=sys.stderr, flush=True)
