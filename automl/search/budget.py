"""A study's budget: the trials recorded toward ``--trials``, and ``--minutes`` split up front into the
phases a worker runs, so that the whole study — trials, diagnostics of the final bests, seed reruns and
online replays — ends within it.

Each phase after the trials has a fixed share of the minutes (``PHASE_SHARES``, only for the phases the
study has); the trials get the rest. A phase ends at the sum of its share and those before it, counted
from the study's start, so time a phase leaves unused goes to the next. Every phase checks its end
between units of work (a trial cut by the clock keeps its best epoch; a rerun that would not fit is not
started; a replay stops between windows), and a machine slower than planned gets fewer trials, not a
later end.
"""

from __future__ import annotations

import time

import optuna

from automl.search.config import StudyConfig
from storage import Store
from storage.store import age_seconds
from storage.tables import StudyRow, WorkerPhase

# the phases in the order a worker runs them, and the share of ``--minutes`` of each after the trials
PHASES = (WorkerPhase.TRIAL, WorkerPhase.DIAGNOSTICS, WorkerPhase.SEED_RERUNS, WorkerPhase.ONLINE_REPLAYS)
PHASE_SHARES = {WorkerPhase.DIAGNOSTICS: 0.05, WorkerPhase.SEED_RERUNS: 0.15, WorkerPhase.ONLINE_REPLAYS: 0.30}
PHASE_WORDS = {WorkerPhase.TRIAL: "trials", WorkerPhase.DIAGNOSTICS: "diagnostics",
               WorkerPhase.SEED_RERUNS: "seed reruns", WorkerPhase.ONLINE_REPLAYS: "online replays"}


def phase_shares(config: StudyConfig) -> dict[WorkerPhase, float]:
    """The share of the minutes of each phase the study has (they sum to 1; trials get the rest)."""
    has = {WorkerPhase.DIAGNOSTICS: True, WorkerPhase.SEED_RERUNS: config.seeds > 0,
           WorkerPhase.ONLINE_REPLAYS: config.online is not None}
    later = {p: s for p, s in PHASE_SHARES.items() if has[p]}
    return {WorkerPhase.TRIAL: 1.0 - sum(later.values()), **later}


def phase_ends(config: StudyConfig) -> dict[WorkerPhase, float] | None:
    """Seconds after the study's start at which each of its phases must end (None without ``--minutes``)."""
    if config.minutes is None:
        return None
    ends, total = {}, 0.0
    for phase, share in phase_shares(config).items():
        total += share * config.minutes * 60
        ends[phase] = total
    return ends


def plan_words(config: StudyConfig) -> str:
    """"trials 9.6 min, diagnostics 0.6 min, seed reruns 1.8 min": the time budget's split ("" without one)."""
    if config.minutes is None:
        return ""
    return ", ".join(f"{PHASE_WORDS[phase]} {share * config.minutes:.1f} min"
                     for phase, share in phase_shares(config).items())


def phase_seconds(config: StudyConfig, phase: WorkerPhase) -> float | None:
    """The seconds planned for ``phase`` (None without ``--minutes``; 0 for a phase the study lacks)."""
    if config.minutes is None:
        return None
    return phase_shares(config).get(phase, 0.0) * config.minutes * 60


def seconds_left(study: StudyRow, config: StudyConfig, phase: WorkerPhase = WorkerPhase.TRIAL) -> float | None:
    """Seconds until ``phase`` must end (negative once past it; None without ``--minutes``)."""
    ends = phase_ends(config)
    if ends is None:
        return None
    end = ends.get(phase, config.minutes * 60)
    return end - (age_seconds(study.started_at) or 0.0)


def deadline(study: StudyRow, config: StudyConfig, phase: WorkerPhase) -> float | None:
    """``time.time()`` seconds at which ``phase`` must end, or None."""
    left = seconds_left(study, config, phase)
    return None if left is None else time.time() + left


def spent(store: Store, study: StudyRow, config: StudyConfig) -> bool:
    """Whether the study's trials are over: ``--trials`` trials recorded, or the trials' share of
    ``--minutes`` past since it started. Recorded trials are CrossBoard's rows (completed, pruned, or
    failed with a reason): the truth even when a worker died before telling Optuna; a trial whose worker
    was lost before recording it is queued again instead, so it does not count."""
    if config.n_trials is not None and store.result_count(study.id) >= config.n_trials:
        return True
    left = seconds_left(study, config)
    return left is not None and left <= 0


class Budget:
    """Optuna callback: stop this worker's trials when the study's trials are over or a stop was asked."""

    def __init__(self, store: Store, study_id: int, config: StudyConfig):
        self.store, self.study_id, self.config = store, study_id, config

    def exhausted(self) -> bool:
        study = self.store.find_study(self.study_id)
        return study.stop_requested or spent(self.store, study, self.config)

    def __call__(self, study: optuna.Study, trial) -> None:
        if self.exhausted():
            study.stop()


STOPPED, OUT_OF_TIME = "stopped by the user", "the study's time ran out"


class Halt:
    """Whether a phase must end now, asked between its units of work: -> the reason (OUT_OF_TIME once
    ``deadline`` (``time.time()`` seconds) has passed, STOPPED once the study's stop was asked, read from
    the database at most every ``poll_s``) or None."""

    def __init__(self, store: Store, study_id: int, deadline: float | None, poll_s: float = 2.0):
        self.store, self.study_id, self.deadline, self.poll_s = store, study_id, deadline, poll_s
        self.checked, self.stopped = -float("inf"), False

    def __call__(self) -> str | None:
        if self.deadline is not None and time.time() >= self.deadline:
            return OUT_OF_TIME
        if not self.stopped and time.monotonic() - self.checked >= self.poll_s:
            self.checked = time.monotonic()
            self.stopped = self.store.find_study(self.study_id).stop_requested
        return STOPPED if self.stopped else None

    def seconds_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()
