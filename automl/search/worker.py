"""A long-lived worker process: loads the data once, then runs trials of one study until the
budget is spent, the deadline passes or a stop is requested (after the current trial).

Start one with ``crossboard worker STUDY`` (any machine that reaches the database URL) or let
``crossboard tune`` / the UI start several (``automl.search.control.launch_workers``)."""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from pathlib import Path

import optuna
import torch

from automl.diagnostics.stored import store_failure, trial_diagnostics
from automl.errors import CrossBoardError, NotFoundError
from automl.features.encode import EncodedData
from automl.online.run import run_online
from automl.online.stream import OnlineSettings
from automl.search.allocation import Allocator, best_trials
from automl.search.budget import Budget, seconds_left
from automl.search.config import StudyConfig
from automl.search.data import study_data
from automl.search.liveness import Heartbeat, settle_study
from automl.search.objective import TRIAL_FAILURES, Objective
from automl.search.optuna_storage import optuna_storage
from automl.search.reseed import run_reseeds
from automl.search.sampling import make_pruner, make_sampler
from automl.training.device import describe, pick_device
from storage import Store
from storage.tables import StudyRow, WorkerPhase, WorkerStatus, utcnow


def worker_threads(local_workers: int) -> int:
    """``$CROSSBOARD_THREADS``, else the cores shared fairly among this machine's workers."""
    share = (os.cpu_count() or 1) // max(local_workers, 1)
    return int(os.environ.get("CROSSBOARD_THREADS", max(1, share)))


def diagnose_bests(store: Store, study_row: StudyRow, data: EncodedData, worker_id: int) -> None:
    """The diagnostics of each model's best trial that has none yet, from its stored weights, once
    the trials are done (not inside each trial, which they would make several seconds dearer; any
    other trial is diagnosed on demand). A fault is kept as that trial's diagnostics error."""
    for row in best_trials(store, study_row):
        if store.diagnostics(study_row.id, row.trial_number):
            continue
        store.update_worker(worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.DIAGNOSTICS,
                            trial_number=row.trial_number, model=row.model, epoch=None)
        try:
            trial_diagnostics(store, study_row, data, row.trial_number)
        except Exception as error:   # noqa: BLE001 - any fault of the diagnostics is reported, not raised
            store_failure(store, study_row, row.trial_number, row.model, error)


def wait_for_trials(store: Store, study_row: StudyRow, study: optuna.Study, worker_id: int, home: Path,
                    poll_s: float = 2.0) -> None:
    """Wait until no trial of the study runs (on any worker), so the online replays start from
    every model's final best trial; lost workers' trials are settled meanwhile."""
    store.update_worker(worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.WAITING, trial_number=None,
                        model=None, epoch=None)
    while study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        settle_study(store, study_row.id, exclude=worker_id, home=home)
        time.sleep(poll_s)


def worker_device(study_device: str | None, own: str | None) -> torch.device:
    """The study's device when it names one (other than a bare "cuda"), else this worker's own
    (``crossboard worker --device``, given by the launcher to spread workers over GPUs), else the default."""
    return pick_device(own if own and study_device in (None, "cuda") else study_device)


def run_worker(store: Store, study_ref: str | int, home: Path, device: str | None = None) -> int:
    """Run trials for the study on ``device`` (see ``worker_device``); returns a process exit code
    (0 also when stopped)."""
    study_row = store.find_study(study_ref)
    if study_row is None:
        raise NotFoundError(f"no study called {study_ref!r}; see `crossboard leaderboard` for the studies")
    config = StudyConfig.from_json(study_row.config_json)
    worker_id = store.add_worker(study_row.id, socket.gethostname(), os.getpid())
    heartbeat = Heartbeat(store, worker_id).start()
    code = 0
    try:
        torch.set_num_threads(worker_threads(config.workers))
        device = worker_device(config.device, device)
        store.update_worker(worker_id, status=WorkerStatus.LOADING, device=describe(device))
        data = study_data(store, study_row, config, home, device)
        if study_row.started_at is None:
            store.update_study(study_row.id, status="running", started_at=utcnow())
            study_row = store.find_study(study_row.id)
        allocator = Allocator(store, study_row, config.models)
        study = optuna.load_study(study_name=study_row.optuna_name, storage=optuna_storage(store.url),
                                  sampler=make_sampler(config.seed * 1000 + worker_id, allocator),
                                  pruner=make_pruner(config))
        budget = Budget(store, study_row.id, config.n_trials)
        timeout = seconds_left(study_row, config)
        if not budget.exhausted(study) and (timeout is None or timeout > 0):
            deadline = None if timeout is None else time.time() + timeout
            study.optimize(Objective(store, study_row, config, data, worker_id, allocator, deadline), timeout=timeout,
                           callbacks=[budget], catch=TRIAL_FAILURES, gc_after_trial=False)
        diagnose_bests(store, study_row, data, worker_id)
        if config.seeds and not store.find_study(study_row.id).stop_requested:
            store.update_worker(worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.SEED_RERUNS,
                                trial_number=None, model=None, epoch=None)
            run_reseeds(store, study_row, config, data, config.seeds, config.top_models)
        if config.online is not None and not store.find_study(study_row.id).stop_requested:
            wait_for_trials(store, study_row, study, worker_id, home)
            store.update_worker(worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.ONLINE_REPLAYS,
                                trial_number=None, model=None, epoch=None)
            run_online(store, study_row, OnlineSettings.from_dict(config.online), data, home,
                       best_trials(store, study_row), config.max_epochs, config.patience, worker_id)
        store.update_worker(worker_id, status=WorkerStatus.FINISHED, phase=None, trial_number=None, model=None,
                            epoch=None)
    except CrossBoardError as error:
        store.update_worker(worker_id, status=WorkerStatus.FAILED, phase=None, message=str(error))
        store.update_study(study_row.id, message=str(error))
        code = 2
    except Exception as error:  # noqa: BLE001 -- an unexpected bug: keep the worker's story in the database
        story = traceback.format_exc()
        print(story, file=sys.stderr, flush=True)
        store.update_worker(worker_id, status=WorkerStatus.FAILED, phase=None, message=f"{error!r}\n{story[-4000:]}")
        code = 1
    finally:
        heartbeat.stop()
        settle_study(store, study_row.id, exclude=worker_id, home=home)
    return code
