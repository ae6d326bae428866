"""What a running study is doing now, from the database alone (UI and CLI poll this)."""

from __future__ import annotations

from dataclasses import dataclass, field

from automl.data.schema import MAXIMIZE
from automl.online.run import modes_of
from automl.online.stream import OnlineSettings
from automl.reporting.leaderboard import best_per_model, trial_records
from automl.search.allocation import standings
from automl.search.config import StudyConfig
from storage import Store
from storage.store import age_seconds
from storage.tables import StudyRow

COUNTED_STATES = ("COMPLETE", "PRUNED", "FAIL")


@dataclass
class Progress:
    status: str
    done: int
    total: int | None
    elapsed_s: float
    eta_s: float | None
    best_value: float | None = None
    best_model: str | None = None
    running: list[dict] = field(default_factory=list)   # per active worker: id, trial, model, epoch, device
    workers: list[dict] = field(default_factory=list)   # every worker: id, host, pid, status, message
    # per model: trials done (finished, pruned or failed), given so far, planned in its current rung,
    # compute seconds, best validation value, whether the plan dropped it
    models: list[dict] = field(default_factory=list)
    message: str = ""
    online: dict | None = None      # an online study's replays: done, total, running ["model mode", ...]

    def line(self, metric: str) -> str:
        """One line for a terminal."""
        total = f"/{self.total}" if self.total else ""
        best = f"best {metric} {self.best_value:.4f} ({self.best_model})" if self.best_value is not None else "no result yet"
        now = "; ".join(f"w{r['id']}: trial {r['trial']} {r['model']} epoch {r['epoch']}" for r in self.running)
        eta = f" · eta {fmt_seconds(self.eta_s)}" if self.eta_s is not None else ""
        replays = ""
        if self.online is not None and self.done and (self.online["done"] or self.online["running"]):
            running = f" ({', '.join(self.online['running'])})" if self.online["running"] else ""
            replays = f" · online replays {self.online['done']}/{self.online['total']}{running}"
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
    plan = standings(config.models, store.allocations(study.id), best_of, study.metric in MAXIMIZE)
    for standing in plan:
        mine = [r for r in records if r["model"] == standing.model]
        models.append({"model": standing.model, "done": sum(r["state"] in COUNTED_STATES for r in mine),
                       "given": standing.given, "planned": standing.quota,
                       "seconds": sum(r["train_seconds"] or 0.0 for r in mine), "best": standing.best,
                       "dropped": standing.dropped})
    return Progress(
        status=study.status, done=done, total=config.n_trials, elapsed_s=elapsed,
        eta_s=min(etas) if etas and study.status == "running" else None,
        best_value=best[0]["val"][study.metric] if best else None, best_model=best[0]["model"] if best else None,
        running=[{"id": w.id, "trial": w.trial_number, "model": w.model, "epoch": w.epoch, "device": w.device}
                 for w in workers if w.status == "running" and w.trial_number is not None],
        workers=[{"id": w.id, "host": w.host, "pid": w.pid, "status": w.status, "device": w.device,
                  "message": w.message} for w in workers],
        message=study.message, models=models, online=online_progress(store, study, config, best),
    )


def online_progress(store: Store, study: StudyRow, config: StudyConfig, best: list[dict]) -> dict | None:
    """{"done", "total", "running"} of an online study's replays (None for an offline study)."""
    if config.online is None:
        return None
    settings = OnlineSettings.from_dict(config.online)
    runs = store.online_runs(study.id)
    return {"done": sum(r.state != "running" for r in runs),
            "total": sum(len(modes_of(r["model"], settings)) for r in best),
            "running": [f"{r.model} {r.mode}" for r in runs if r.state == "running"]}
