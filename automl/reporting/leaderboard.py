"""Leaderboard rows from stored trial results (the UI and the CLI read the same rows)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import pandas as pd

from automl.data.schema import FULL_CORPUS, MAXIMIZE
from automl.evaluation.comparison import GROUP, LEADER, Comparison
from automl.evaluation.metrics import is_better
from automl.search import ensembles, verdicts
from models import REGISTRY
from storage import Store
from storage.store import loads
from storage.tables import StudyRow, TrialState


class TrialRecord(TypedDict):
    """A leaderboard row: one recorded trial (or the ensemble), as ``--format json`` prints it."""

    trial: int | None                  # None for the ensemble
    model: str
    state: str                         # a TrialState, or "ENSEMBLE"
    params: dict                       # the trial's options (the ensemble's weights and member trials)
    val: dict[str, float]              # validation metrics
    test: dict[str, float]             # test metrics (none for a pruned or failed trial)
    n_params: int | None
    train_seconds: float | None
    epochs: int | None
    best_epoch: int | None
    latency_ms_per_1k: float | None
    device: str
    reason: str                        # why it failed
    key_options: dict                  # the card's ``key_options`` the trial set
    notes: dict                        # e.g. AutoRec's fallbacks to the global mean
    finished_at: str | None            # ISO time


class BestRecord(TrialRecord):
    """A model's best trial with its spread over seeds and its place in the verdict (``with_seed_spread``)."""

    seeds: int                         # its trial and the finished reruns of it
    test_mean: dict[str, float]
    test_sd: dict[str, float | None]   # None with one seed
    standing: str | None               # leader, leader group, behind, clearly behind or under-explored
    interval: dict[str, list[float]]   # test metric -> [low, high], 95%, on the seed-averaged outputs
    test_low: float | None             # the compared metric's interval
    test_high: float | None
    leader_group: bool | None          # not told apart from the leader (the leader included)
    better_than: list[str]             # models it beats by a Holm-corrected paired test
    p_vs_leader: float | None          # that test's adjusted p against the leader
    search_sd: float | None            # the compared metric's spread from the search (``comparison.search_spread``)
    tied_with_leader: bool | None      # in the leader group and not the leader; None for the leader


def trial_records(store: Store, study: StudyRow) -> list[TrialRecord]:
    """One record per recorded trial."""
    records = []
    for r in store.results(study.id):
        params = loads(r.params_json)
        card = REGISTRY.get(r.model)
        key = {k: params[k] for k in (card.key_options if card else ()) if k in params}
        records.append(TrialRecord(
            trial=r.trial_number, model=r.model, state=r.state, params=params,
            val=loads(r.val_json), test=loads(r.test_json), n_params=r.n_params,
            train_seconds=r.train_seconds, epochs=r.epochs, best_epoch=r.best_epoch,
            latency_ms_per_1k=r.latency_ms_per_1k, device=r.device, reason=r.reason,
            key_options=key, notes=loads(r.extra_json).get("notes", {}),
            finished_at=r.finished_at.isoformat() if r.finished_at else None,
        ))
    return records


def ensemble_record(store: Store, study: StudyRow) -> TrialRecord | None:
    """The study's ensemble (``automl.search.ensembles``) as a record shaped like a trial's: model
    "ensemble", state "ENSEMBLE", no trial number; params hold the weights and member trials."""
    found = ensembles.stored(store, study.id)
    if found is None:
        return None
    return TrialRecord(trial=None, model="ensemble", state="ENSEMBLE",
                       params={"weights": found.weights, "trials": found.trials, "rounds": found.rounds},
                       val=found.val, test=found.test, n_params=None, train_seconds=None, epochs=None,
                       best_epoch=None, latency_ms_per_1k=None, device="", reason="",
                       key_options={name: round(weight, 3) for name, weight in found.weights.items()}, notes={},
                       finished_at=None)


def with_seed_spread(best: list[TrialRecord], runs: list, verdict: Comparison | None) -> list[BestRecord]:
    """``best`` (best first) with, for each model, ``seeds`` (its trial and the finished reruns of
    it, ``automl.search.reseed``), ``test_mean`` and ``test_sd`` ({metric: value} over them; sd None for
    one seed), and its place in the study's ``verdict`` (``automl.search.verdicts``; blank without one)."""
    reruns: dict[int, list[dict]] = {}
    for run in runs:
        if run.state == "done":
            reruns.setdefault(run.trial_number, []).append(loads(run.test_json))
    standings = {s.model: s for s in verdict.standings} if verdict else {}
    spread = []
    for record in best:
        tests = [record["test"], *reruns.get(record["trial"], [])]
        names = sorted(set.intersection(*(set(t) for t in tests)))
        standing = standings.get(record["model"])
        if standing is not None and standing.trial != record["trial"]:
            standing = None                    # the verdict is of an earlier best: rebuilt after the next trial
        low, high = standing.interval[verdict.metric] if standing else (None, None)
        spread.append(BestRecord(
            **record, seeds=len(tests),
            test_mean={m: float(np.mean([t[m] for t in tests])) for m in names},
            test_sd={m: float(np.std([t[m] for t in tests], ddof=1)) if len(tests) > 1 else None for m in names},
            standing=standing.standing if standing else None,
            interval=standing.interval if standing else {}, test_low=low, test_high=high,
            leader_group=standing.standing in (LEADER, GROUP) if standing else None,
            better_than=standing.better_than if standing else [],
            p_vs_leader=standing.p_vs_leader if standing else None,
            search_sd=standing.search_sd if standing else None,
            tied_with_leader=(standing.standing == GROUP) if standing and standing.standing != LEADER else None))
    return spread


@dataclass
class Leaderboard:
    trials: list[TrialRecord]          # every recorded trial (of the chosen models), ``ranked``
    best: list[BestRecord]             # the best completed trial of each model, best first
    ensemble: TrialRecord | None       # ``ensemble_record``, None until two models have a best trial
    verdict: Comparison | None         # ``automl.search.verdicts``: the models compared on the test rows


def read_leaderboard(store: Store, study: StudyRow, models: Collection[str] | None = None) -> Leaderboard:
    """What the CLI prints and the UI shows, optionally for some ``models`` only."""
    records = [r for r in trial_records(store, study) if models is None or r["model"] in models]
    verdict = verdicts.stored(store, study.id)
    best = with_seed_spread(best_per_model(records, study.metric), store.seed_runs(study.id, outputs=False), verdict)
    return Leaderboard(ranked(records, study.metric), best, ensemble_record(store, study), verdict)


def ranked(records: list[TrialRecord], metric: str) -> list[TrialRecord]:
    """Completed trials first, best validation ``metric`` first; then the rest by trial number."""
    done = [r for r in records if r["state"] == TrialState.COMPLETE and not math.isnan(r["val"].get(metric, math.nan))]
    rest = [r for r in records if r not in done]
    sign = -1 if metric in MAXIMIZE else 1
    return sorted(done, key=lambda r: sign * r["val"][metric]) + sorted(rest, key=lambda r: r["trial"])


def best_per_model(records: list[TrialRecord], metric: str) -> list[TrialRecord]:
    """The best completed trial of each model, best first."""
    best: dict[str, TrialRecord] = {}
    for r in records:
        if r["state"] == TrialState.COMPLETE and is_better(metric, r["val"].get(metric), best.get(r["model"], {}).get("val", {}).get(metric)):
            best[r["model"]] = r
    return ranked(list(best.values()), metric)


def table(records: list[TrialRecord], metric_names: tuple[str, ...], metric: str | None = None) -> pd.DataFrame:
    """A flat frame: one row per trial, val_/test_ metric columns (and the full-corpus test metrics an implicit
    study ranks beside its sampled candidates), key options as text; records
    ``with_seed_spread`` add their standing, its test interval, better_than, seeds, test_<metric>_mean /
    _sd (the study ``metric``) and search_sd."""
    rows = []
    for r in records:
        row = {"trial": r["trial"], "model": r["model"], "state": r["state"]}
        if "seeds" in r and metric is not None:       # the verdict first: it says whether the ranking holds
            row.update({"standing": r["standing"], "test_low": r["test_low"], "test_high": r["test_high"],
                        "better_than": ", ".join(r["better_than"]), "seeds": r["seeds"],
                        f"test_{metric}_mean": r["test_mean"].get(metric), f"test_{metric}_sd": r["test_sd"].get(metric),
                        "search_sd": r["search_sd"]})
        row.update({f"val_{m}": r["val"].get(m) for m in metric_names})
        row.update({f"test_{m}": r["test"].get(m) for m in metric_names})
        row.update({f"test_{k}": v for k, v in r["test"].items() if k.startswith(FULL_CORPUS)})   # implicit, all items
        row.update({"options": ", ".join(f"{k}={short(v)}" for k, v in r["key_options"].items()),
                    "epochs": r["epochs"], "n_params": r["n_params"], "train_seconds": r["train_seconds"],
                    "latency_ms_per_1k": r["latency_ms_per_1k"], "device": r["device"], "reason": r["reason"],
                    "notes": ", ".join(f"{k}={short(v)}" for k, v in r.get("notes", {}).items())})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in ("trial", "epochs", "n_params", "seeds"):      # whole numbers, blank where a row has none
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame


def short(value) -> str:
    """Floats with 3 significant digits, anything else as text."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def to_json(records: list[TrialRecord]) -> str:
    return json.dumps(records, indent=2, default=str)
