"""Leaderboard rows from stored trial results (the UI and the CLI read the same rows)."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import pandas as pd
from scipy.stats import ttest_ind

from automl.data.schema import MAXIMIZE
from automl.evaluation.metrics import is_better
from automl.search import ensembles
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
    """A model's best trial with its spread over seeds (``with_seed_spread``)."""

    seeds: int                         # its trial and the finished reruns of it
    test_mean: dict[str, float]
    test_sd: dict[str, float | None]   # None with one seed
    tied_with_leader: bool | None      # ``tied`` on the study metric; None unless both have two seeds or more


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


def with_seed_spread(best: list[TrialRecord], runs: list, metric: str) -> list[BestRecord]:
    """``best`` (best first) with, for each model, ``seeds`` (its trial and the finished reruns of
    it, ``automl.search.reseed``), ``test_mean`` and ``test_sd`` ({metric: value} over them; sd
    None for one seed) and ``tied_with_leader`` (``tied`` on the test ``metric``; None unless both
    the model and the leader have two seeds or more)."""
    reruns: dict[int, list[dict]] = {}
    for run in runs:
        if run.state == "done":
            reruns.setdefault(run.trial_number, []).append(loads(run.test_json))
    tests_of = {r["trial"]: [r["test"], *reruns.get(r["trial"], [])] for r in best}
    leader = [t.get(metric) for t in tests_of[best[0]["trial"]]] if best else []
    spread = []
    for record in best:
        tests = tests_of[record["trial"]]
        names = sorted(set.intersection(*(set(t) for t in tests)))
        values = [t.get(metric) for t in tests]
        spread.append(BestRecord(**record, seeds=len(tests),
                                 test_mean={m: float(np.mean([t[m] for t in tests])) for m in names},
                                 test_sd={m: float(np.std([t[m] for t in tests], ddof=1)) if len(tests) > 1 else None
                                          for m in names},
                                 tied_with_leader=tied(leader, values)))
    return spread


def tied(leader: list[float | None], other: list[float | None], level: float = 0.05) -> bool | None:
    """Whether Welch's t-test finds no difference between the two sets of values at ``level``;
    None with fewer than two values on either side."""
    if len(leader) < 2 or len(other) < 2 or any(v is None or math.isnan(v) for v in leader + other):
        return None
    if np.std(leader) == 0 and np.std(other) == 0:
        return bool(np.mean(leader) == np.mean(other))
    with warnings.catch_warnings():         # one side without spread (a deterministic model) is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        return bool(ttest_ind(leader, other, equal_var=False).pvalue >= level)


@dataclass
class Leaderboard:
    trials: list[TrialRecord]          # every recorded trial (of the chosen models), ``ranked``
    best: list[BestRecord]             # the best completed trial of each model, best first
    ensemble: TrialRecord | None       # ``ensemble_record``, None until two models have a best trial


def read_leaderboard(store: Store, study: StudyRow, models: Collection[str] | None = None) -> Leaderboard:
    """What the CLI prints and the UI shows, optionally for some ``models`` only."""
    records = [r for r in trial_records(store, study) if models is None or r["model"] in models]
    best = with_seed_spread(best_per_model(records, study.metric), store.seed_runs(study.id), study.metric)
    return Leaderboard(ranked(records, study.metric), best, ensemble_record(store, study))


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
    """A flat frame: one row per trial, val_/test_ metric columns, key options as text; records
    ``with_seed_spread`` add seeds, test_<metric>_mean / _sd (the study ``metric``) and tied_with_leader."""
    rows = []
    for r in records:
        row = {"trial": r["trial"], "model": r["model"], "state": r["state"]}
        if "seeds" in r and metric is not None:       # the spread first: it says whether the ranking holds
            row.update({"seeds": r["seeds"], f"test_{metric}_mean": r["test_mean"].get(metric),
                        f"test_{metric}_sd": r["test_sd"].get(metric), "tied_with_leader": r["tied_with_leader"]})
        row.update({f"val_{m}": r["val"].get(m) for m in metric_names})
        row.update({f"test_{m}": r["test"].get(m) for m in metric_names})
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
