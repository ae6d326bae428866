"""Online learning measured as a user runs it: `crossboard ingest` then `crossboard tune DATA --online`
(DRN, DeepFM, FM and LR in the static, incremental and retrain modes, and DRN's own), with river's
logistic regression and factorization machine replayed on exactly the same windows for reference.

    python -m benchmarks.online --ml100k ../shared/data/ml-100k-grouplens --drifting-rows 40000 \
        --out benchmarks/results/online.json
    python -m benchmarks.online --table benchmarks/results/online.json

Data: MovieLens-100K as a ctr log in time order (rating >= 4 -> click; user age, gender and
occupation, item genres joined in; the data's terms forbid committing it, so it is written to a
temporary folder) and the generated drifting stream (``automl.data.demo.drifting_frame``: items
born and retired, tastes that switch halfway). Both are cut as the study cuts them: the oldest 20%
trains offline, the rest is 20 windows, the first 4 choose each mode's options, 16 are reported.
River (benchmark only) learns one row at a time over the initial rows, then per window predicts
every row before learning any of them; its probabilities are its own (no calibration).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from automl.data.datasets import load_frame, schema_of
from automl.data.demo import drifting_frame
from automl.data.timestamps import timestamps_of
from automl.evaluation.metrics import auc, logloss
from automl.features.prepare import stored_split
from automl.features.splits import SPLIT_NAMES
from automl.online.replay import NDCG_K, grouped_ndcg
from automl.online.stream import OnlineSettings, stream_windows, time_order, tuning_windows
from benchmarks.ml100k_cf import read_ratings, side_features
from benchmarks.product_study import crossboard
from benchmarks.saved import parser_for, run_or_table
from storage import Store
from storage.db import resolve_url

MODELS = "drn,deepfm,fm,lr"
NDCG = f"ndcg@{NDCG_K}"


def ml100k_clicks(data_dir: Path) -> pd.DataFrame:
    """ML-100K's ratings as clicks (rating >= 4), with the user and item side features."""
    users, items = side_features(data_dir)
    frame = read_ratings(data_dir / "u.data").merge(users, on="user_id", how="left").merge(items, on="item_id",
                                                                                            how="left")
    frame["click"] = (frame.pop("rating") >= 4).astype(int)
    return frame


def river_models() -> dict:
    from river import compose, facto, linear_model, optim, preprocessing

    return {"river LR": compose.Pipeline(preprocessing.OneHotEncoder(),
                                         linear_model.LogisticRegression(optimizer=optim.SGD(0.05))),
            "river FM": facto.FMClassifier(n_factors=10, seed=0)}


def river_replays(store: Store, home: Path, name: str, settings: OnlineSettings) -> dict:
    """River's models replayed over the study's own log order and windows."""
    row = store.find_dataset(name)
    schema = schema_of(row)
    frame = load_frame(store, row, home)
    seconds = timestamps_of(frame, schema)
    assignment = stored_split(store, row, home, fractions=settings.fractions)
    positions = {s: np.flatnonzero(assignment == i) for i, s in enumerate(SPLIT_NAMES)}
    order, times, stream_start = time_order({s: seconds[p].astype(np.float64) for s, p in positions.items()})
    rows = np.concatenate([positions[s][order[s]] for s in SPLIT_NAMES])
    _window, edges = stream_windows(times, stream_start, settings)
    n_tuning = tuning_windows(len(edges) - 1, settings)
    features = [c.name for c in schema.columns if c.role in ("user", "item", "categorical", "sequence", "numeric")]
    records = frame.iloc[rows][features].astype(str).to_dict("records")
    labels = frame[schema.label].to_numpy()[rows].astype(np.float64)
    users = frame[schema.names("user")[0]].astype(str).to_numpy()[rows]
    results = {}
    for model_name, model in river_models().items():
        for x, y in zip(records[:stream_start], labels[:stream_start], strict=True):
            model.learn_one(x, bool(y))
        windows, scored = [], []
        for w in range(len(edges) - 1):
            start, end = int(edges[w]), int(edges[w + 1])
            tick = time.perf_counter()
            p = np.array([model.predict_proba_one(x).get(True, 0.0) for x in records[start:end]])
            for x, y in zip(records[start:end], labels[start:end], strict=True):
                model.learn_one(x, bool(y))
            seconds_taken = time.perf_counter() - tick
            if w < n_tuning:
                continue
            y = labels[start:end]
            total, sets = grouped_ndcg(y, p, pd.factorize(users[start:end])[0])
            windows.append({"window": w, "rows": end - start, "auc": auc(y, p), "seconds": seconds_taken,
                            NDCG: total / sets if sets else None, "ndcg_sum": total, "ndcg_sets": sets})
            scored.append((y, p))
        y, p = (np.concatenate(part) for part in zip(*scored, strict=True))
        sets = sum(w["ndcg_sets"] for w in windows)
        results[model_name] = {"auc": auc(y, p), "logloss": logloss(y, np.clip(p, 1e-7, 1 - 1e-7)),
                               NDCG: sum(w["ndcg_sum"] for w in windows) / sets if sets else None,
                               "seconds_per_window": float(np.mean([w["seconds"] for w in windows])),
                               "windows": [{k: v for k, v in w.items() if k not in ("ndcg_sum", "ndcg_sets")}
                                           for w in windows]}
    return results


def run_dataset(frame: pd.DataFrame, name: str, trials: int, epochs: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home, path = Path(tmp) / "home", Path(tmp) / f"{name}.csv"
        frame.to_csv(path, index=False)
        crossboard(home, "ingest", str(path), "--name", name)
        tick = time.time()
        crossboard(home, "tune", name, "--online", "--models", MODELS, "--trials", str(trials), "--epochs",
                   str(epochs), "--seeds", "0", "--workers", str(workers), "--name", name)
        wall = time.time() - tick
        rows = json.loads(crossboard(home, "leaderboard", name, "--format", "json").stdout)
        store = Store(resolve_url(None, home))
        runs = {f"{r['model']} · {r['mode']}": {**{k: r["online"].get(k) for k in ("auc", "logloss", NDCG,
                                                                                    "seconds_per_window")},
                                                "options": r["online"].get("options"), "state": r["state"],
                                                "reason": r["reason"][:300],
                                                "offline_val_auc": r["val"].get("auc"),
                                                "windows": r["online"].get("windows", [])}
                for r in rows}
        runs.update(river_replays(store, home, name, OnlineSettings()))
    return {"rows": len(frame), "click_rate": float(frame["click"].mean()), "tune_wall_seconds": wall, "runs": runs}


def run(ml100k: Path | None, drifting_rows: int, trials: int, epochs: int, workers: int) -> dict:
    datasets = {}
    if ml100k is not None:
        datasets["ml100k"] = run_dataset(ml100k_clicks(ml100k), "ml100k_online", trials, epochs, workers)
    datasets["drifting"] = run_dataset(drifting_frame(drifting_rows, seed=0), "drifting", trials, epochs, workers)
    return {"command": " ".join(sys.argv), "trials": trials, "epochs": epochs, "workers": workers,
            "datasets": datasets}


def fmt(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def markdown(result: dict) -> str:
    lines = []
    for name, found in result["datasets"].items():
        lines += [(f"**{name}** ({found['rows']:,} rows, click rate {found['click_rate']:.3f}; `tune --online` "
                  f"{found['tune_wall_seconds']:.0f} s with {result['workers']} workers)"), "",
                  f"| model · mode | AUC | logloss | {NDCG} | s / window | options | AUC per reported window |",
                  "|---|---|---|---|---|---|---|"]
        ranked = sorted(found["runs"].items(), key=lambda kv: -(kv[1].get("auc") or 0))
        for run_name, entry in ranked:
            per_window = " ".join(f"{w['auc']:.2f}" if w.get("auc") is not None else "—" for w in entry["windows"])
            options = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in (entry.get("options") or {}).items())
            lines.append(f"| {run_name} | {fmt(entry.get('auc'))} | {fmt(entry.get('logloss'))} | "
                         f"{fmt(entry.get(NDCG))} | {fmt(entry.get('seconds_per_window'))} | {options} | "
                         f"{per_window} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--ml100k", type=Path, help="the ml-100k folder (u.data, u.user, u.item)")
    parser.add_argument("--drifting-rows", type=int, default=40_000)
    parser.add_argument("--trials", type=int, default=16, help="offline trials of the study (all models)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run_or_table(args, lambda: run(args.ml100k, args.drifting_rows, args.trials, args.epochs, args.workers),
                 markdown)


if __name__ == "__main__":
    main()
