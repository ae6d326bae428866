"""What a running study is doing now, from the database alone (UI and CLI poll this)."""

from __future__ import annotations

from dataclasses import dataclass, field

from automl.data.schema import MAXIMIZE
from automl.online.run import modes_of
from automl.online.stream import OnlineSettings
from automl.reporting.leaderboard import best_per_model, trial_records
from automl.search.allocation import race_standings, standings
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

    def line(self, metric: str) -> str:
        """One line for a terminal."""
        total = f"/{self.total}" if self.total else ""
        best = f"best {metric} {self.best_value:.4f} ({self.best_model})" if self.best_value is not None else "no result yet"
        now = "; ".join(f"w{r.id}: trial {r.trial} {r.model} epoch {r.epoch}" if r.phase in (None, WorkerPhase.TRIAL)
                        else f"w{r.id}: {r.phase} of trial {r.trial} {r.model}" for r in self.running)
        eta = f" · eta {fmt_seconds(self.eta_s)}" if self.eta_s is not None else ""
        replays = ""
        if self.online is not None and self.done and (self.online.done or self.online.running):
            running = f" ({', '.join(self.online.running)})" if self.online.running else ""
            replays = f" · online replays {self.online.done}/{self.online.total}{running}"
        return f"[{self.status}] trials {self.done}{total} · {best} · elapsed {fmt_seconds(self.elapsed_s)}{eta}" + (
            f" · {now}" if now else "") + replays


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
    etas = []
    if config.n_trials and done:
        etas.append(elapsed / done * max(config.n_trials - done, 0))
    if config.minutes:
        etas.append(max(config.minutes * 60 - elapsed, 0))
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
    return Progress(
        status=study.status, done=done, total=config.n_trials, elapsed_s=elapsed,
        eta_s=min(etas) if etas and study.status == "running" else None,
        best_value=best[0]["val"][study.metric] if best else None, best_model=best[0]["model"] if best else None,
        running=[Activity(w.id, w.phase, w.trial_number, w.model, w.epoch, w.device)
                 for w in workers if w.status == WorkerStatus.RUNNING and w.trial_number is not None],
        workers=[WorkerState(w.id, w.host, w.pid, w.status, w.device, w.message) for w in workers],
        message=study.message, models=models, online=online_progress(store, study, config, best),
    )


def online_progress(store: Store, study: StudyRow, config: StudyConfig, best: list[dict]) -> OnlineProgress | None:
    """An online study's replays (None for an offline study)."""
    if config.online is None:
        return None
    settings = OnlineSettings.from_dict(config.online)
    runs = store.online_runs(study.id)
    return OnlineProgress(done=sum(r.state != "running" for r in runs),
                          total=sum(len(modes_of(r["model"], settings)) for r in best),
                          running=[f"{r.model} {r.mode}" for r in runs if r.state == "running"])
