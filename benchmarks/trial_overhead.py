"""Per-trial overhead as a user's study pays it: everything a trial costs beyond its training passes
(setup, validation, calibration, test scoring, database writes, the ensemble refresh, diagnostics of a
new best, sampling), through the real CLI with one worker on cached data.

    python -m benchmarks.trial_overhead --rows 20000 --trials 100 --out benchmarks/results/trial_overhead.json
    python -m benchmarks.trial_overhead --table benchmarks/results/trial_overhead.json

Each scenario ingests the generated demo log into a fresh home, lets a first study encode it (so the
measured study reads the cache), then runs `crossboard tune DATA --trials N --epochs 1 --seeds 0
--workers 1 --pruner none` on SQLite and, with ``--postgres URL``, on PostgreSQL. Overhead per trial =
(last trial's end − first trial's start − the trials' training passes) / trials, from Optuna's trial
times and each trial's per-epoch training seconds; its growth is the mean overhead of the last fifth of
the trials over the first fifth's.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import optuna

from automl.data.demo import demo_frame
from automl.search.capabilities import model_availability
from benchmarks.product_study import crossboard
from benchmarks.saved import parser_for, run_or_table
from storage import Store
from storage.db import resolve_url
from storage.store import loads

SCENARIOS = {"lr, auc": (["lr"], "auc"), "every ctr model, gauc": (None, "gauc")}


def every_ctr_model(store: Store, name: str) -> list[str]:
    from automl.data.datasets import schema_of

    schema = schema_of(store.find_dataset(name))
    return [m for m, why in model_availability(schema, "ctr").items() if why is None]


def measure(home: Path, url: str, dataset: str, models: list[str], metric: str, trials: int) -> dict:
    study = f"overhead-{uuid.uuid4().hex[:8]}"
    tick = time.time()
    crossboard(home, "--db", url, "tune", dataset, "--models", ",".join(models), "--metric", metric, "--trials",
               str(trials), "--epochs", "1", "--seeds", "0", "--workers", "1", "--pruner", "none", "--name", study)
    wall = time.time() - tick
    store = Store(url)
    row = store.find_study(study)
    frozen = [t for t in optuna.load_study(study_name=row.optuna_name, storage=url).get_trials(deepcopy=False)
              if t.datetime_start is not None and t.datetime_complete is not None]      # not the unused queue
    results = {r.trial_number: r for r in store.results(row.id)}
    per_trial, training = [], []
    for trial in sorted(frozen, key=lambda t: t.number):
        history = loads(results[trial.number].extra_json).get("history", []) if trial.number in results else []
        trained = sum(epoch["seconds"] for epoch in history)
        span = (trial.datetime_complete - trial.datetime_start).total_seconds()
        per_trial.append(span - trained)
        training.append(trained)
    first = min(t.datetime_start for t in frozen)
    last = max(t.datetime_complete for t in frozen)
    span = (last - first).total_seconds()
    fifth = max(len(per_trial) // 5, 1)
    by_model: dict[str, list[float]] = {}
    for trial, overhead in zip(sorted(frozen, key=lambda t: t.number), per_trial, strict=True):
        by_model.setdefault(trial.params.get("model", "?"), []).append(overhead)
    return {"models": models, "metric": metric, "trials": len(frozen), "tune_wall_s": wall, "span_s": span,
            "training_s": float(sum(training)),
            "overhead_per_trial_s": (span - sum(training)) / len(frozen),
            "inside_trial_overhead_s": float(np.mean(per_trial)),
            "first_fifth_s": float(np.mean(per_trial[:fifth])), "last_fifth_s": float(np.mean(per_trial[-fifth:])),
            "per_model_s": {m: float(np.mean(v)) for m, v in sorted(by_model.items())}}


def run(rows: int, trials: int, postgres: str | None) -> dict:
    out = {"rows": rows, "trials": trials, "databases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.csv"
        demo_frame(rows).to_csv(path, index=False)
        for database, url in (("sqlite", None), ("postgresql", postgres)):
            if database == "postgresql" and url is None:
                continue
            home = Path(tmp) / database
            url = url or resolve_url(None, home)
            dataset = f"overhead-data-{uuid.uuid4().hex[:8]}"
            crossboard(home, "--db", url, "ingest", str(path), "--name", dataset)
            crossboard(home, "--db", url, "tune", dataset, "--models", "lr", "--trials", "1", "--epochs", "1",
                       "--seeds", "0", "--name", f"warm-{dataset}")               # encodes the cache
            models = every_ctr_model(Store(url), dataset)
            out["databases"][database] = {name: measure(home, url, dataset, chosen or models, metric, trials)
                                          for name, (chosen, metric) in SCENARIOS.items()}
    return out


def markdown(result: dict) -> str:
    lines = [f"{result['trials']} trials of one epoch on the demo log ({result['rows']:,} rows), one worker:", "",
             ("| database | study | trials | span (s) | training (s) | overhead per trial (s) | inside a trial (s) | "
             "first → last fifth (s) |"), "|---|---|---|---|---|---|---|---|"]
    for database, scenarios in result["databases"].items():
        for name, found in scenarios.items():
            lines.append(f"| {database} | {name} | {found['trials']} | {found['span_s']:.1f} | "
                         f"{found['training_s']:.1f} | {found['overhead_per_trial_s']:.3f} | "
                         f"{found['inside_trial_overhead_s']:.3f} | {found['first_fifth_s']:.3f} → "
                         f"{found['last_fifth_s']:.3f} |")
    lines += ["", "Inside a trial, per model (s): " + "; ".join(
        f"{db}: " + ", ".join(f"{m} {v:.2f}" for m, v in s["every ctr model, gauc"]["per_model_s"].items())
        for db, s in result["databases"].items())]
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure on too, e.g. "
                                           "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    run_or_table(args, lambda: run(args.rows, args.trials, args.postgres), markdown)


if __name__ == "__main__":
    main()
