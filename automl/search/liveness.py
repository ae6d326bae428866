"""Whether a study's workers still live, judged from the database: each worker's heartbeat thread
stamps its row with the database's clock every ``heartbeat_seconds()[0]`` seconds, and a worker
whose stamp is older than the grace period (by the same clock) is lost, however long its epochs
and whatever its machine's clock says. A worker on this machine whose process is gone is lost at
once. Settling a study marks lost workers, fails the trials they left running and re-queues
them, fails a study no worker ever joined within ``START_DEADLINE_S`` (with the last lines of its
workers' logs), and marks a study done when no worker is left running."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import warnings
from datetime import datetime
from pathlib import Path
from typing import TypedDict

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from automl.search.control import worker_logs
from automl.search.optuna_storage import MAX_RETRY, heartbeat_seconds, optuna_storage
from storage import Store
from storage.tables import StudyRow, WorkerStatus, utcnow

ACTIVE = (WorkerStatus.STARTING, WorkerStatus.LOADING, WorkerStatus.RUNNING)
START_DEADLINE_S = 300      # a study still without any worker this long after its creation has failed
LOG_LINES = 5               # lines of each worker log quoted when no worker ever started


def lost_after_s() -> float:
    """Seconds without a heartbeat after which a worker counts as lost (Optuna's grace period)."""
    return float(heartbeat_seconds()[1])


def alive(worker, now: datetime) -> bool:
    """Whether a worker row belongs to a process that still runs; ``now``: ``Store.db_now()``."""
    if worker.status not in ACTIVE:
        return False
    if worker.host == socket.gethostname() and not process_runs(worker.pid):
        return False
    return (now - worker.heartbeat_at).total_seconds() < lost_after_s()


def process_runs(pid: int) -> bool:
    """Whether a process with this pid runs here (a reused pid passes: the heartbeat decides then)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not zombie(pid)


def zombie(pid: int) -> bool:
    """A process that exited but was not yet reaped by its parent (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class Heartbeat:
    """A daemon thread stamping one worker's row every ``interval`` seconds until ``stop()``."""

    def __init__(self, store: Store, worker_id: int, interval: float | None = None):
        self.store, self.worker_id = store, worker_id
        self.interval = float(heartbeat_seconds()[0] if interval is None else interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{worker_id}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):    # a missed beat (database busy or away) is retried next time
                self.store.update_worker(self.worker_id)     # stamps the heartbeat

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)


def settle_running_trial(store: Store, study: StudyRow, trial_number: int, requeue: bool) -> bool:
    """Fail the Optuna trial a lost worker left RUNNING and, with ``requeue``, queue it again (at
    most ``MAX_RETRY`` times, as Optuna's own stale-trial check does); -> whether it was running."""
    storage = optuna_storage(store.url)
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.optuna_name),
                                                                trial_number)
    if storage.get_trial(trial_id).state != TrialState.RUNNING:
        return False
    storage.set_trial_state_values(trial_id, TrialState.FAIL)
    if requeue:
        optuna_study = optuna.load_study(study_name=study.optuna_name, storage=storage)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(optuna_study, storage.get_trial(trial_id))
    return True


def log_tail(home: Path | None, study_id: int) -> str:
    """The last lines of this machine's worker logs of the study ('' when there are none)."""
    if home is None:
        return ""
    tails = []
    for log in worker_logs(home, study_id):
        lines = log.read_text(errors="replace").strip().splitlines()[-LOG_LINES:]
        if lines:
            tails.append(f"{log.name}: " + " | ".join(lines))
    return "\n".join(tails)


class Settled(TypedDict):
    """What ``settle_study`` did."""

    lost: list[int]          # workers now marked lost
    requeued: list[int]      # trial numbers queued again
    status: str              # the study's status after it


def settle_study(store: Store, study_id: int, exclude: int | None = None, home: Path | None = None) -> Settled:
    """Mark lost workers, failing the trial each left running (queued again while another worker
    still runs to take it), fail a study no worker joined in time, and mark the study done when no
    worker is left running."""
    study, workers, now = store.find_study(study_id), store.workers(study_id), store.db_now()
    active = [w for w in workers if w.id != exclude and w.status in ACTIVE]
    living = [w for w in active if alive(w, now)]
    lost, requeued = [w for w in active if w not in living], []
    for worker in lost:
        store.update_worker(worker.id, status=WorkerStatus.LOST, phase=None,
                            message="the worker stopped beating (its process ended or its machine is unreachable)")
        if worker.trial_number is not None and settle_running_trial(store, study, worker.trial_number,
                                                                    requeue=bool(living)):
            requeued += [worker.trial_number] if living else []
    status = study.status
    if not living and workers:
        status = "stopped" if study.stop_requested else "finished"
        store.update_study(study_id, status=status, finished_at=utcnow())
    elif not workers and status == "created" and (utcnow() - study.created_at).total_seconds() > START_DEADLINE_S:
        status, tail = "failed", log_tail(home, study_id)
        store.update_study(study_id, status=status, finished_at=utcnow(), message=(
            f"no worker joined the study within {START_DEADLINE_S} s of its creation; "
            + (f"the last lines of its worker logs:\n{tail}" if tail else
               "no worker log on this machine: start one with `crossboard worker STUDY`")))
    return Settled(lost=[w.id for w in lost], requeued=requeued, status=status)
