"""Whether a study's workers still live, judged from the database: each worker's heartbeat thread
stamps its row with the database's clock every ``heartbeat_seconds()[0]`` seconds, and a worker
whose stamp is older than the grace period (by the same clock) is lost, however long its epochs
and whatever its machine's clock says. A worker on this machine whose process is gone is lost at
once. Settling a study marks lost workers and settles the trials that ended workers left: one
with a recorded result gets it told to Optuna (CrossBoard's row is the truth, so a trial that ran
never runs again), any other is queued again, whoever settles it. It fails a study no worker ever
joined within ``START_DEADLINE_S`` (with the last lines of its workers' logs), and when no worker
runs, ends a study whose budget is spent and marks any other as waiting for workers, saying why
its workers ended and how to start one."""

from __future__ import annotations

import contextlib
import socket
import threading
import warnings
from datetime import datetime
from pathlib import Path
from typing import TypedDict

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from automl.data.files import process_runs, remove_stale_partials
from automl.search.budget import spent
from automl.search.config import StudyConfig
from automl.search.control import worker_logs
from automl.search.objective import FAILURE_ATTR, RESULT_OF_ATTR, recorded_outcome, recorded_result
from automl.search.optuna_storage import MAX_RETRY, heartbeat_seconds, optuna_storage
from storage import Store
from storage.tables import StudyRow, TrialResultRow, WorkerRow, WorkerStatus, utcnow

ACTIVE = (WorkerStatus.STARTING, WorkerStatus.LOADING, WorkerStatus.RUNNING)
ENDED = (WorkerStatus.LOST, WorkerStatus.FAILED)     # workers that may have left a trial unsettled
LOST_REPLAY = "lost"                # the state of an online replay whose worker died
WAITING = "waiting for workers"     # the status of a study with budget left that no worker runs
START_DEADLINE_S = 300      # a study still without any worker this long after its creation has failed
LOG_LINES = 5               # lines of each worker log quoted when no worker ever started
PARTIAL_FOLDERS = ("cache", "incoming", "datasets")     # where the home's writers keep partial files


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


def settle_trials(store: Store, study: StudyRow, numbers: list[int], requeue: bool) -> list[int]:
    """Settle the trials ``numbers`` that workers left when they ended (lost or failed): a trial
    with a recorded result gets it told to Optuna; any other is failed if still running and, with
    ``requeue``, queued again unless it was already (Optuna's own stale-trial check queues the
    trials it fails), at most ``MAX_RETRY`` times, as that check does. -> the numbers queued again."""
    if not numbers:
        return []
    storage = optuna_storage(store.url)
    optuna_study = optuna.load_study(study_name=study.optuna_name, storage=storage)
    trials = {t.number: t for t in optuna_study.get_trials(deepcopy=False)}
    retried = {n for t in trials.values() for n in t.system_attrs.get("retry_history", [])}
    study_key, requeued = storage.get_study_id_from_name(study.optuna_name), []
    for number in filter(trials.__contains__, numbers):
        trial = trials[number]
        history = trial.system_attrs.get("retry_history", [])
        recorded = recorded_result(store, study.id, [number, *history])
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_key, number)
        if recorded is not None:
            if trial.state == TrialState.RUNNING:
                tell_recorded(optuna_study, storage, trial_id, number, recorded, study.metric)
            continue
        ours = failed_here(storage, trial_id) if trial.state == TrialState.RUNNING else (
            trial.state == TrialState.FAIL and number not in retried)
        if not (ours and requeue) or len(history) >= MAX_RETRY:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(optuna_study, storage.get_trial(trial_id))
        requeued.append(number)
    return requeued


def failed_here(storage, trial_id: int) -> bool:
    """Fail a running trial; False when another process ended it first."""
    try:
        return storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def tell_recorded(optuna_study: optuna.Study, storage, trial_id: int, number: int, recorded: TrialResultRow,
                  metric: str) -> None:
    """Tell Optuna of trial ``number``, whose worker died before telling it, the result CrossBoard
    recorded for it (or for the trial it ran again)."""
    state, value = recorded_outcome(recorded, metric)
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):     # another process told it first
        if recorded.trial_number != number:
            storage.set_trial_user_attr(trial_id, RESULT_OF_ATTR, recorded.trial_number)
        if state == TrialState.FAIL:
            storage.set_trial_user_attr(trial_id, FAILURE_ATTR, recorded.reason)
        optuna_study.tell(number, value, state=state, skip_if_finished=True)


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


def settle_workers(store: Store, study: StudyRow, exclude: int | None = None) -> tuple[list[int], list[int], bool]:
    """Mark the study's lost workers (other than ``exclude``) and settle the trials of every worker
    that ended (``settle_trials``; queued again while the budget lasts); -> (workers now lost,
    trials queued again, whether another worker still runs)."""
    workers, now = store.workers(study.id), store.db_now()
    active = [w for w in workers if w.id != exclude and w.status in ACTIVE]
    lost = [w.id for w in active if not alive(w, now)]
    for worker_id in lost:
        store.update_worker(worker_id, status=WorkerStatus.LOST, phase=None,
                            message="the worker stopped beating (its process ended or its machine is unreachable)")
    if lost:
        store.end_online_runs(study.id, lost, state=LOST_REPLAY, reason="its worker stopped beating")
    ended = {w.trial_number for w in workers if w.trial_number is not None and (w.id in lost or w.status in ENDED)}
    requeue = not spent(store, study, StudyConfig.from_json(study.config_json))
    return lost, settle_trials(store, study, sorted(ended), requeue), len(active) > len(lost)


def settle_study(store: Store, study_id: int, exclude: int | None = None, home: Path | None = None) -> Settled:
    """Remove the partial files dead processes left in ``home`` (they may be what fills its disk),
    settle the workers (``settle_workers``), fail a study no worker joined in time, and when no
    worker runs, end the study or mark it waiting for workers (``ended_status``)."""
    for folder in PARTIAL_FOLDERS if home is not None else ():
        remove_stale_partials(Path(home) / folder)
    study = store.find_study(study_id)
    lost, requeued, running = settle_workers(store, study, exclude)
    workers, status = store.workers(study_id), study.status
    if workers and not running:
        status, message = ended_status(store, study, workers, requeued)
        if (status, message or study.message) != (study.status, study.message):     # no news: no write
            store.update_study(study_id, status=status, finished_at=None if status == WAITING else utcnow(),
                               **({"message": message} if message else {}))
    elif not workers and status == "created" and (utcnow() - study.created_at).total_seconds() > START_DEADLINE_S:
        status, tail = "failed", log_tail(home, study_id)
        store.update_study(study_id, status=status, finished_at=utcnow(), message=(
            f"no worker joined the study within {START_DEADLINE_S} s of its creation; "
            + (f"the last lines of its worker logs:\n{tail}" if tail else
               "no worker log on this machine: start one with `crossboard worker STUDY`")))
    return Settled(lost=lost, requeued=requeued, status=status)


def ended_status(store: Store, study: StudyRow, workers: list[WorkerRow], requeued: list[int]) -> tuple[str, str]:
    """(status, message) of a study that no worker runs: "stopped" when asked, "finished" when
    its budget is spent (no message), else "failed" when its latest worker failed, or
    ``WAITING``, with the reasons its workers ended and how to start one."""
    config = StudyConfig.from_json(study.config_json)
    if study.stop_requested or spent(store, study, config):
        return ("stopped" if study.stop_requested else "finished"), ""
    failed = max(workers, key=lambda w: w.id).status == WorkerStatus.FAILED
    done = store.result_count(study.id)
    reasons = [f"worker {w.id} {w.status}: {w.message.strip().splitlines()[0].rstrip('.')}"
               for w in workers if w.status in ENDED and w.message.strip()][-3:]
    queued = [f"trial {', '.join(map(str, requeued))} queued again"] if requeued else []
    recorded = f"{done}{f' of {config.n_trials}' if config.n_trials else ''} trials recorded"
    return ("failed" if failed else WAITING), (
        f"{'' if failed else WAITING + ': '}" + "; ".join([f"no worker is running ({recorded})", *reasons, *queued])
        + ". " + ("Fix that, then start" if failed else "Start") + f" a worker to go on: `crossboard worker "
        f"{study.name}` (on another machine, add --db and the database URL).")
