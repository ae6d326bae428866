"""A ctr study measured as a user runs it: `crossboard ingest` then `crossboard tune DATA --minutes M
--workers W` (every available model by default), through the real CLI: its database, its worker
processes, the study's allocation, pruning, calibration and seed reruns, in a fresh home.

    python benchmarks/product_study.py --demo-rows 40000 --minutes 12 --workers 2 --out FILE
    python benchmarks/product_study.py --train A.libfm [--valid B] [--test C] --minutes 40 --out FILE
    python benchmarks/product_study.py --table FILE        # the markdown table of a saved run

Data: a generated log with planted pairwise interactions and a history effect (``--demo-rows``), or
the user's files, with a published benchmark's own split when ``--valid`` / ``--test`` are given.
Writes one JSON file: per model the trials given, completed, pruned and failed, its best trial's
test AUC and calibrated (and raw) test logloss, seeds and tie with the leader, the constant
predictor's test logloss (the training click rate), and the raw `leaderboard --best` records.
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
NAME = "bench"


def crossboard(home: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "automl.cli", "--home", str(home), *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"crossboard {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def constant_logloss(store: Store, home: Path) -> float:
    """Test logloss of predicting the training click rate for every row."""
    data = prepared_data(store, store.find_dataset(NAME), home)
    train, test = (data.splits[s]["label"].numpy() for s in ("train", "test"))
    return logloss(test, np.full(len(test), train.mean()))


def run(ingest: list[str], tune: list[str], home: Path) -> dict:
    """Ingest (``ingest``: the file and its options), tune (``tune``: the budget options), read the results."""
    crossboard(home, "ingest", *ingest, "--name", NAME)
    started = time.time()
    tuned = crossboard(home, "tune", NAME, *tune, "--name", NAME)
    seconds = time.time() - started
    best = json.loads(crossboard(home, "leaderboard", NAME, "--best", "--format", "json").stdout)
    trials = json.loads(crossboard(home, "leaderboard", NAME, "--format", "json").stdout)
    store = Store(resolve_url(None, home))
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
                                           test_auc_mean=record.get("test_mean", {}).get("auc"),
                                           test_auc_sd=record.get("test_sd", {}).get("auc"),
                                           tied_with_leader=record.get("tied_with_leader"))
    ensemble = next((r for r in best if r["state"] == "ENSEMBLE"), None)
    return {"ingest": ingest, "tune": tune, "wall_seconds": seconds, "constant_test_logloss": constant_logloss(store, home),
            "models": models, "ensemble_test": ensemble["test"] if ensemble else None, "best": best,
            "tune_tail": tuned.stdout[-3000:]}


def markdown(result: dict) -> str:
    header = "| model | trials | completed | pruned | failed | best test AUC | mean ± sd over seeds | test logloss (calibrated) | raw | tied |"
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]

    def fmt(v) -> str:
        return "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    for name, m in sorted(result["models"].items(), key=lambda kv: -(kv[1].get("test_auc") or 0)):
        spread = (f"{m['test_auc_mean']:.4f} ± {m['test_auc_sd']:.4f} ({m['seeds']})"
                  if m.get("test_auc_sd") is not None else "—")
        lines.append(f"| {name} | {m['trials']} | {m['COMPLETE']} | {m['PRUNED']} | {m['FAIL']} | "
                     f"{fmt(m.get('test_auc'))} | {spread} | {fmt(m.get('test_logloss'))} | "
                     f"{fmt(m.get('test_logloss_raw'))} | {fmt(m.get('tied_with_leader'))} |")
    if result.get("ensemble_test"):
        lines.append(f"| ensemble | | | | | {fmt(result['ensemble_test'].get('auc'))} | | "
                     f"{fmt(result['ensemble_test'].get('logloss'))} | | |")
    lines.append(f"\nConstant predictor (training click rate): test logloss {result['constant_test_logloss']:.4f}. "
                 f"`crossboard ingest {' '.join(Path(a).name if '/' in a else a for a in result['ingest'])}`, "
                 f"`crossboard tune {' '.join(result['tune'])}`; "
                 f"wall {result['wall_seconds']:.0f} s.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-rows", type=int, help="a generated log of this many rows")
    parser.add_argument("--train", type=Path, help="the table (the training rows, with --valid / --test)")
    parser.add_argument("--valid", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--minutes", type=float, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", help="comma-separated (default: every available model)")
    parser.add_argument("--out", type=Path, help="the JSON file to write (under benchmarks/results/)")
    parser.add_argument("--table", type=Path, help="print the markdown table of a saved result and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return
    home = Path(tempfile.mkdtemp(prefix="crossboard-bench-"))
    if args.demo_rows:
        path = home / "planted.csv"
        demo_frame(n_rows=args.demo_rows).to_csv(path, index=False)
        ingest = [str(path)]
    elif args.train:
        ingest = [str(args.train)] + [x for part in ("valid", "test") if getattr(args, part)
                                      for x in (f"--{part}", str(getattr(args, part)))]
    else:
        parser.error("give --demo-rows N or --train FILE")
    tune = ["--minutes", f"{args.minutes:g}", "--workers", str(args.workers)] + (
        ["--models", args.models] if args.models else [])
    result = run(ingest, tune, home)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))


if __name__ == "__main__":
    main()
