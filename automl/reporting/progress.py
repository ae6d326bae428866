"""What a running study is doing now, from the database alone (UI and CLI poll this)."""

from __future__ import annotations

from dataclasses import dataclass, field

from automl.data.schema import MAXIMIZE
from automl.online.run import modes_of
from automl.online.stream import OnlineSettings
from automl.reporting.leaderboard import best_per_model, trial_records
from automl.search.allocation import race_standings, standings
from automl.search.budget import PHASE_WORDS, phase_ends
from automl.search.config import StudyConfig
from storage import Store
from storage.store import age_seconds
from storage.tables import StudyRow, TrialState, WorkerPhase, WorkerStatus

COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class Activity:
    """What one running worker does now: its phase and the trial (with its model and epoch) it is on."""

    id: int
    phase: str | None          # a WorkerPhase
    trial: int | None
    model: str | None
    epoch: int | None
    device: str


@dataclass(frozen=True)
class WorkerState:
    id: int
    host: str
    pid: int
    status: str                # a WorkerStatus
    device: str
    message: str


@dataclass(frozen=True)
class ModelProgress:
    """One model's share of the plan (``automl.search.allocation``)."""

    model: str
    done: int                  # trials finished, pruned or failed
    given: int                 # trials given to it so far
    planned: int               # trials in its current rung
    seconds: float             # compute seconds of its trials
    best: float | None         # best validation value
    dropped: bool              # whether the plan dropped it


@dataclass(frozen=True)
class OnlineProgress:
    """An online study's replays: (model, mode) pairs done of the total, the running ones as "model mode"."""

    done: int
    total: int
    running: list[str]


@dataclass(frozen=True)
class PhaseProgress:
    """One phase of a study (a WorkerPhase): units done of the total (None: not known yet), the seconds its
    remaining work should take (None: nothing to go on), and the seconds until its planned end (None
    without a time budget)."""

    phase: str
    done: int
    total: int | None
    work_s: float | None
    planned_s: float | None

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


@dataclass
class Progress:
    status: str
    done: int
    total: int | None
    elapsed_s: float
    eta_s: float | None
    best_value: float | None = None
    best_model: str | None = None
    running: list[Activity] = field(default_factory=list)     # per worker on a trial now
    workers: list[WorkerState] = field(default_factory=list)  # every worker
    models: list[ModelProgress] = field(default_factory=list)
    message: str = ""
    online: OnlineProgress | None = None      # an online study's replays
    phases: list[PhaseProgress] = field(default_factory=list)     # every phase the study has, in order

    def line(self, metric: str) -> str:
        """One line for a terminal: every phase begun with its done / total, the best so far, what each worker does."""
        best = f"best {metric} {self.best_value:.4f} ({self.best_model})" if self.best_value is not None else "no result yet"
        now = "; ".join(activity_words(r) for r in self.running)
        eta = f" · eta {fmt_seconds(self.eta_s)}" if self.eta_s is not None else ""
        steps = [f"{PHASE_WORDS[p.phase]} {p.done}" + (f"/{p.total}" if p.total is not None else "") for p in self.phases
                 if p.phase == WorkerPhase.TRIAL or p.done or any(r.phase == p.phase for r in self.running)]
        running = f" ({', '.join(self.online.running)})" if self.online is not None and self.online.running else ""
        return (f"[{self.status}] {' · '.join(steps)}{running} · {best} · elapsed {fmt_seconds(self.elapsed_s)}{eta}"
                + (f" · {now}" if now else ""))


def activity_words(activity: Activity) -> str:
    """"w3: trial 12 deepfm epoch 4", "w3: seed reruns", "w3: diagnostics of trial 7 fm": one worker's doing."""
    if activity.phase in (None, WorkerPhase.TRIAL):
        return f"w{activity.id}: trial {activity.trial} {activity.model} epoch {activity.epoch}"
    what = f" of trial {activity.trial} {activity.model}" if activity.trial is not None else ""
    return f"w{activity.id}: {activity.phase}{what}"


def fmt_seconds(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def study_progress(store: Store, study: StudyRow) -> Progress:
    study = store.find_study(study.id)
    config = StudyConfig.from_json(study.config_json)
    records = trial_records(store, study)
    done = sum(r["state"] in COUNTED_STATES for r in records)
    elapsed = age_seconds(study.started_at) or 0.0
    if study.finished_at and study.started_at:
        elapsed = (study.finished_at - study.started_at).total_seconds()
    best = best_per_model(records, study.metric)
    workers = store.workers(study.id)
    models = []
    best_of = {r["model"]: r["val"][study.metric] for r in best}
    plan = standings(config.models, store.allocations(study.id), best_of, study.metric in MAXIMIZE,
                     verdict=race_standings(store, study))
    for standing in plan:
        mine = [r for r in records if r["model"] == standing.model]
        models.append(ModelProgress(standing.model, sum(r["state"] in COUNTED_STATES for r in mine), standing.given,
                                    standing.quota, sum(r["train_seconds"] or 0.0 for r in mine), standing.best,
                                    standing.dropped))
    online = online_progress(store, study, config, best)
    phases = phase_progress(store, study, config, records, best, online, elapsed)
    return Progress(
        status=study.status, done=done, total=config.n_trials, elapsed_s=elapsed,
        eta_s=eta(phases, config, elapsed) if study.status == "running" else None,
        best_value=best[0]["val"][study.metric] if best else None, best_model=best[0]["model"] if best else None,
        running=[Activity(w.id, w.phase, w.trial_number, w.model, w.epoch, w.device)
                 for w in workers if w.status == WorkerStatus.RUNNING and (w.trial_number is not None or w.phase)],
        workers=[WorkerState(w.id, w.host, w.pid, w.status, w.device, w.message) for w in workers],
        message=study.message, models=models, online=online, phases=phases,
    )


DIAGNOSTICS_GUESS_S = 20.0      # one trial's diagnostics, before any was timed
REPLAY_GUESS_S = 60.0           # one online replay, before any finished


def phase_progress(store: Store, study: StudyRow, config: StudyConfig, records: list, best: list,
                   online: OnlineProgress | None, elapsed: float) -> list[PhaseProgress]:
    """Every phase the study has (``automl.search.budget.phase_shares``), with what is done of it and what is
    left; the work left is spread over the study's workers."""
    from automl.search.reseed import contenders

    workers = max(config.workers, 1)
    ends = phase_ends(config) or {}
    planned = {p: max(end - elapsed, 0.0) for p, end in ends.items()}
    done = sum(r["state"] in COUNTED_STATES for r in records)
    per_trial = sum(r["train_seconds"] or 0.0 for r in records) / done if done else None
    trials_left = None if config.n_trials is None else max(config.n_trials - done, 0)
    phases = [PhaseProgress(WorkerPhase.TRIAL, done, config.n_trials,
                            None if per_trial is None or trials_left is None else per_trial * trials_left / workers,
                            planned.get(WorkerPhase.TRIAL))]
    bests = {r["trial"] for r in best}
    diagnosed = len(bests & store.diagnosed_trials(study.id))
    phases.append(PhaseProgress(WorkerPhase.DIAGNOSTICS, diagnosed, len(bests) or None,
                                (len(bests) - diagnosed) * DIAGNOSTICS_GUESS_S / workers,
                                planned.get(WorkerPhase.DIAGNOSTICS)))
    if config.seeds:
        reruns = store.seed_run_states(study.id)
        finished = sum(state != "running" for _, _, state in reruns)
        chosen = contenders(store, study, None) if best else []
        total = max(len(chosen) * config.seeds, len(reruns)) if chosen else None
        cost = sum(row.train_seconds or 0.0 for row in chosen) / len(chosen) if chosen else per_trial
        phases.append(PhaseProgress(WorkerPhase.SEED_RERUNS, finished, total,
                                    None if total is None or cost is None else (total - finished) * cost / workers,
                                    planned.get(WorkerPhase.SEED_RERUNS)))
    if online is not None:
        phases.append(PhaseProgress(WorkerPhase.ONLINE_REPLAYS, online.done, online.total or None,
                                    (online.total - online.done) * REPLAY_GUESS_S / workers,
                                    planned.get(WorkerPhase.ONLINE_REPLAYS)))
    return phases


def eta(phases: list[PhaseProgress], config: StudyConfig, elapsed: float) -> float | None:
    """Seconds until the study ends: with a time budget, its planned end (past it, the work left); else the
    work left of every phase. Never 0 while work remains (at least a second)."""
    left = [p for p in phases if not p.finished]
    if not left:
        return 0.0
    work = sum(p.work_s or 0.0 for p in left)
    if config.minutes is not None and config.minutes * 60 > elapsed:
        return config.minutes * 60 - elapsed
    return max(work, 1.0) if config.minutes is not None or any(p.work_s is not None for p in left) else None


def online_progress(store: Store, study: StudyRow, config: StudyConfig, best: list[dict]) -> OnlineProgress | None:
    """An online study's replays (None for an offline study)."""
    if config.online is None:
        return None
    settings = OnlineSettings.from_dict(config.online)
    runs = store.online_runs(study.id)
    return OnlineProgress(done=sum(r.state != "running" for r in runs),
                          total=sum(len(modes_of(r["model"], settings)) for r in best),
                          running=[f"{r.model} {r.mode}" for r in runs if r.state == "running"])
