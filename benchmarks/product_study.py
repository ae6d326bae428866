"""A ctr study measured as a user runs it: `crossboard ingest` then `crossboard tune DATA --minutes M
--workers W` (every available model by default), through the real CLI: its database, its worker
processes, the study's allocation, pruning, calibration and seed reruns, in a fresh home.

    python benchmarks/product_study.py --demo-rows 40000 --minutes 12 --workers 2 --out FILE
    python benchmarks/product_study.py --train A.libfm [--valid B] [--test C] --minutes 40 --out FILE
    python benchmarks/product_study.py --table FILE        # the markdown table of a saved run

Data: a generated log with planted pairwise interactions and a history effect (``--demo-rows``), or
the user's files, with a published benchmark's own split when ``--valid`` / ``--test`` are given.
Writes one JSON file: per model the trials by state, its best trial's test figures (ctr:
calibrated and raw logloss) with their mean and sd over seeds and the tie with the leader, the
constant predictor's test figure, the ensemble's, and the raw `leaderboard --best` records.
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


def constant_figures(store: Store, home: Path) -> dict[str, float]:
    """The test figures of a constant prediction from the training rows: the click rate (ctr:
    logloss) or the mean rating (rating: RMSE)."""
    data = prepared_data(store, store.find_dataset(NAME), home)
    train, test = (data.splits[s]["label"].numpy().astype(np.float64) for s in ("train", "test"))
    if data.spec.task == "ctr":
        return {"logloss": logloss(test, np.full(len(test), train.mean()))}
    return {"rmse": float(np.sqrt(np.mean((test - train.mean()) ** 2)))}


def run(ingest: list[str], tune: list[str], home: Path) -> dict:
    """Ingest (``ingest``: the file and its options), tune (``tune``: the budget options), read the results."""
    crossboard(home, "ingest", *ingest, "--name", NAME)
    started = time.time()
    tuned = crossboard(home, "tune", NAME, *tune, "--name", NAME)
    seconds = time.time() - started
    best = json.loads(crossboard(home, "leaderboard", NAME, "--best", "--format", "json").stdout)
    trials = json.loads(crossboard(home, "leaderboard", NAME, "--format", "json").stdout)
    store = Store(resolve_url(None, home))
    return {"ingest": ingest, "tune": tune, "wall_seconds": seconds, "constant_test": constant_figures(store, home),
            "models": per_model(trials, best), "ensemble_test": next((r["test"] for r in best
                                                                      if r["state"] == "ENSEMBLE"), None),
            "best": best, "tune_tail": tuned.stdout[-3000:]}


def per_model(trials: list[dict], best: list[dict]) -> dict[str, dict]:
    """Model -> trials by state, and its best trial's test figures with the spread over seeds."""
    models: dict[str, dict] = {}
    for record in trials:
        if record["state"] != "ENSEMBLE":
            entry = models.setdefault(record["model"], {"trials": 0, "COMPLETE": 0, "PRUNED": 0, "FAIL": 0})
            entry["trials"] += 1
            entry[record["state"]] += 1
    for record in best:
        if record["model"] in models:
            models[record["model"]].update({key: record.get(key) for key in
                                            ("trial", "test", "test_mean", "test_sd", "seeds", "tied_with_leader",
                                             "standing", "test_low", "test_high")})
    return models


COLUMNS = {"ctr": ("auc", [("logloss", "test logloss (calibrated)"), ("logloss_raw", "raw")]),
           "rating": ("rmse", [("mae", "test MAE")])}


def markdown(result: dict) -> str:
    """The table of a saved run: one row per model, best first, then the ensemble."""
    task = "ctr" if "logloss" in result["constant_test"] else "rating"
    primary, others = COLUMNS[task]
    sign = -1 if task == "ctr" else 1
    lines = [f"| model | trials | completed | pruned | failed | best test {primary.upper()} | 95% interval | standing | "
             "mean ± sd over seeds | " + " | ".join(title for _, title in others) + " | tied with the leader |",
             "|" + "---|" * (10 + len(others))]

    def fmt(v) -> str:
        return "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    ranked = sorted(result["models"].items(), key=lambda kv: sign * ((kv[1].get("test") or {}).get(primary) or 0))
    for name, m in ranked:
        test, sd = m.get("test") or {}, (m.get("test_sd") or {}).get(primary)
        spread = f"{m['test_mean'][primary]:.4f} ± {sd:.4f} ({m['seeds']})" if sd is not None else "—"
        interval = f"[{m['test_low']:.4f}, {m['test_high']:.4f}]" if m.get("test_low") is not None else "—"
        lines.append(f"| {name} | {m['trials']} | {m['COMPLETE']} | {m['PRUNED']} | {m['FAIL']} | "
                     f"{fmt(test.get(primary))} | {interval} | {m.get('standing') or '—'} | {spread} | "
                     + " | ".join(fmt(test.get(k)) for k, _ in others)
                     + f" | {fmt(m.get('tied_with_leader'))} |")
    if result.get("ensemble_test"):
        lines.append(f"| ensemble | | | | | {fmt(result['ensemble_test'].get(primary))} | | | | "
                     + " | ".join(fmt(result["ensemble_test"].get(k)) for k, _ in others) + " | |")
    constant = ", ".join(f"{k} {v:.4f}" for k, v in result["constant_test"].items())
    lines.append(f"\nConstant predictor (from the training rows): test {constant}. "
                 f"`crossboard ingest {' '.join(Path(a).name if '/' in a else a for a in result['ingest'])}`, "
                 f"`crossboard tune {' '.join(result['tune'])}`; wall {result['wall_seconds']:.0f} s.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-rows", type=int, help="a generated log of this many rows")
    parser.add_argument("--train", type=Path, help="the table (the training rows, with --valid / --test)")
    parser.add_argument("--valid", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--names", help="column names for files without a header line (passed to ingest)")
    parser.add_argument("--minutes", type=float, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", help="comma-separated (default: every available model)")
    parser.add_argument("--epochs", type=int, help="tune's maximum epochs per trial (default: tune's)")
    parser.add_argument("--patience", type=int, help="tune's early-stopping patience (default: tune's)")
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
        ingest += ["--names", args.names] if args.names else []
    else:
        parser.error("give --demo-rows N or --train FILE")
    tune = ["--minutes", f"{args.minutes:g}", "--workers", str(args.workers)] + (
        ["--models", args.models] if args.models else [])
    tune += [x for option in ("epochs", "patience") if getattr(args, option) is not None
             for x in (f"--{option}", str(getattr(args, option)))]
    result = run(ingest, tune, home)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))


if __name__ == "__main__":
    main()
