"""The online leaderboard: one row per (model, mode) replay of an online study's stream
(``automl.online``), with the offline best trial it started from."""

from __future__ import annotations

import math

import pandas as pd

from automl.online.replay import NDCG_K
from automl.online.run import tuning_metric
from automl.reporting.leaderboard import best_per_model, short, trial_records
from automl.search.config import StudyConfig
from storage import Store
from storage.store import loads
from storage.tables import StudyRow

NDCG = f"ndcg@{NDCG_K}"


def is_online(study: StudyRow) -> bool:
    return StudyConfig.from_json(study.config_json).online is not None


def online_records(store: Store, study: StudyRow) -> list[dict]:
    """Each replay as the offline best trial's record with ``mode``, ``state`` (running, done,
    failed), ``reason`` and ``online`` (overall metrics, ``windows``, the mode's chosen
    ``options``); finished replays first, best online metric first."""
    best = {r["model"]: r for r in best_per_model(trial_records(store, study), study.metric)}
    records = []
    for run in store.online_runs(study.id):
        base = best.get(run.model, {"model": run.model, "params": {}, "val": {}, "test": {}})
        records.append({**base, "trial": run.trial_number, "mode": run.mode, "state": run.state,
                        "reason": run.reason, "online": loads(run.result_json)})
    metric = tuning_metric(study.metric)
    sign = -1 if metric == "auc" else 1

    def key(record: dict) -> tuple:
        value = record["online"].get(metric)
        missing = value is None or math.isnan(value)
        return (record["state"] != "done" or missing, 0 if missing else sign * value, record["model"])

    return sorted(records, key=key)


def online_table(records: list[dict]) -> pd.DataFrame:
    """A flat frame of ``online_records``: model, mode, the overall online metrics, the options."""
    return pd.DataFrame([{
        "model": r["model"], "mode": r["mode"], "trial": r["trial"], "state": r["state"],
        "auc": r["online"].get("auc"), "logloss": r["online"].get("logloss"), NDCG: r["online"].get(NDCG),
        "windows": r["online"].get("reported_windows"), "rows": r["online"].get("rows"),
        "seconds_per_window": r["online"].get("seconds_per_window"),
        "options": ", ".join(f"{k}={short(v)}" for k, v in r["online"].get("options", {}).items()),
        "reason": r["reason"].splitlines()[0] if r["reason"] else "",
    } for r in records])
