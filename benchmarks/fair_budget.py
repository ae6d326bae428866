"""A fair budget, measured as a user runs it: `crossboard tune DATA --minutes M --workers W` with every
ctr model (the default) on a generated log with planted pairwise interactions and a history effect.

    python benchmarks/fair_budget.py [--rows 40000] [--minutes 12] [--workers 2] [--out FILE]
    python benchmarks/fair_budget.py --table FILE        # the markdown table of a saved run

Runs the real CLI (its database, its worker processes, the study's allocation and pruning) in a
fresh home, then writes one JSON file: per model the trials given, completed, pruned and failed,
its best trial's calibrated test logloss, and the constant predictor's test logloss (the training
click rate), plus the raw `leaderboard --best --format json` output.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from automl.data.demo import demo_frame
from automl.evaluation.metrics import logloss
from automl.features.prepare import prepared_data
from storage import Store
from storage.db import resolve_url

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "fair_budget.json"


def crossboard(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "automl.cli", "--home", str(home), *args], cwd=ROOT,
                          capture_output=True, text=True, check=True)


def constant_logloss(store: Store, home: Path) -> float:
    """Test logloss of predicting the training click rate for every row."""
    data = prepared_data(store, store.find_dataset("planted"), home)
    train, test = (data.splits[s]["label"].numpy() for s in ("train", "test"))
    return logloss(test, np.full(len(test), train.mean()))


def run(rows: int, minutes: float, workers: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="crossboard-fair-"))
    path = home / "planted.csv"
    demo_frame(n_rows=rows).to_csv(path, index=False)
    crossboard(home, "ingest", str(path), "--name", "planted")
    started = time.time()
    tune = crossboard(home, "tune", "planted", "--minutes", str(minutes), "--workers", str(workers), "--name", "fair")
    seconds = time.time() - started
    best = json.loads(crossboard(home, "leaderboard", "fair", "--best", "--format", "json").stdout)
    trials = json.loads(crossboard(home, "leaderboard", "fair", "--format", "json").stdout)
    store = Store(resolve_url(None, home))
    constant = constant_logloss(store, home)
    models = {}
    for record in trials:
        if record["state"] == "ENSEMBLE":
            continue
        entry = models.setdefault(record["model"], {"trials": 0, "COMPLETE": 0, "PRUNED": 0, "FAIL": 0})
        entry["trials"] += 1
        entry[record["state"]] += 1
    for record in best:
        if record["model"] in models:
            models[record["model"]].update(best_trial=record["trial"], test_logloss=record["test"].get("logloss"),
                                           test_logloss_raw=record["test"].get("logloss_raw"),
                                           test_auc=record["test"].get("auc"), seeds=record.get("seeds"),
                                           tied_with_leader=record.get("tied_with_leader"))
    return {"rows": rows, "minutes": minutes, "workers": workers, "wall_seconds": seconds,
            "constant_test_logloss": constant, "models": models, "best": best, "tune_tail": tune.stdout[-3000:]}


def markdown(result: dict) -> str:
    header = "| model | trials | completed | pruned | failed | best test AUC | test logloss (calibrated) | raw | seeds | tied |"
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]

    def fmt(v) -> str:
        return "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    for name, m in sorted(result["models"].items(), key=lambda kv: -(kv[1].get("test_auc") or 0)):
        lines.append(f"| {name} | {m['trials']} | {m['COMPLETE']} | {m['PRUNED']} | {m['FAIL']} | "
                     f"{fmt(m.get('test_auc'))} | {fmt(m.get('test_logloss'))} | {fmt(m.get('test_logloss_raw'))} | "
                     f"{fmt(m.get('seeds'))} | {fmt(m.get('tied_with_leader'))} |")
    lines.append(f"\nConstant predictor (training click rate): test logloss {result['constant_test_logloss']:.4f}; "
                 f"{result['rows']:,} rows, --minutes {result['minutes']:g}, --workers {result['workers']}, "
                 f"wall {result['wall_seconds']:.0f} s.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--minutes", type=float, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--table", type=Path, help="print the markdown table of a saved result and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return
    result = run(args.rows, args.minutes, args.workers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))


if __name__ == "__main__":
    main()
