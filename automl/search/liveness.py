"""Whether a study's workers still live; failing the trials of dead ones, and marking a study
done when none is left running."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from optuna.trial import TrialState

from automl.search.optuna_storage import optuna_storage
from storage import Store
from storage.store import age_seconds
from storage.tables import StudyRow, utcnow

ACTIVE = ("starting", "loading", "running")
LOST_AFTER_S = 600


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
