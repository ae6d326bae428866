"""What ``cross_source = diagnosed`` buys Wide & Deep: a study of crossing models is tuned through
the product (``crossboard ingest`` / ``tune`` in a fresh home) and its consensus pairs are read the
way ``tune --crosses-from`` reads them. Then, on the same split:

1. Wide & Deep's paper defaults with five wide parts, over several seeds: no crosses, the ``auto``
   crosses ranked on the training split (3 pairs, the default), and the diagnosed crosses, top 1,
   top 3 (the default ``n_diagnosed``) and all of them;
2. the product's "tune again": ``crossboard tune --models wide_deep --trials N`` without and with
   ``--crosses-from`` the source study (``cross_source`` and the counts searched), best test AUC.

    python -m benchmarks.diagnosed_crosses --rows 40000 --trials 12 --seeds 3 --out FILE
    python -m benchmarks.diagnosed_crosses --table FILE
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from automl.data import datasets
from automl.data.demo import demo_frame
from automl.diagnostics.consensus import consensus_pairs, detected_crosses
from automl.search.config import StudyConfig
from automl.search.data import study_data
from automl.training.device import pick_device
from automl.training.fit import train_and_evaluate
from benchmarks.product_study import crossboard
from benchmarks.saved import parser_for, run_or_table
from models import REGISTRY
from models.spec import MAX_CROSSES
from storage import Store
from storage.db import resolve_url

VARIANTS = {"none": {"cross_source": "auto", "n_crosses": 0}, "auto": {"cross_source": "auto", "n_crosses": 3},
            "diagnosed top 1": {"cross_source": "diagnosed", "n_diagnosed": 1},
            "diagnosed top 3": {"cross_source": "diagnosed", "n_diagnosed": 3},
            "diagnosed all": {"cross_source": "diagnosed", "n_diagnosed": MAX_CROSSES}}


def tune_again(home: Path, trials: int) -> dict[str, dict]:
    """Wide & Deep tuned alone for ``trials`` trials, without and with ``--crosses-from source``:
    name -> the best trial's test figures and its options."""
    studies = {"without": [], "with --crosses-from": ["--crosses-from", "source"]}
    out = {}
    for label, extra in studies.items():
        name = "again" if extra else "plain"
        crossboard(home, "tune", "demo", "--models", "wide_deep", "--trials", str(trials), "--workers", "2",
                   "--seeds", "0", "--name", name, *extra)
        best = json.loads(crossboard(home, "leaderboard", name, "--best", "--format", "json").stdout)
        record = next(r for r in best if r["model"] == "wide_deep")
        out[label] = {"test": record["test"], "val": record["val"], "params": record.get("params")}
    return out


def run(rows: int, trials: int, seeds: int, models: str) -> dict:
    home = Path(tempfile.mkdtemp(prefix="crossboard-crosses-"))
    path = home / "demo.csv"
    demo_frame(n_rows=rows).to_csv(path, index=False)
    crossboard(home, "ingest", str(path), "--name", "demo")
    crossboard(home, "tune", "demo", "--models", models, "--trials", str(trials), "--workers", "2",
               "--seeds", "0", "--name", "source")
    store = Store(resolve_url(None, home))
    study = store.find_study("source")
    schema = datasets.schema_of(datasets.get_dataset(store, "demo"))
    diagnosed = detected_crosses(store, study.id, set(schema.names("user", "item", "categorical")))
    config = replace(StudyConfig.from_json(study.config_json), diagnosed_pairs=diagnosed)
    data = study_data(store, study, config, home, pick_device("cpu"))
    names = [f.name for f in data.spec.fields]
    card, results = REGISTRY["wide_deep"], {}
    for variant, options in VARIANTS.items():
        runs = []
        for seed in range(seeds):
            tick = time.perf_counter()
            outcome = train_and_evaluate(card, {**card.defaults, **options}, data, metric="auc", max_epochs=20,
                                         patience=2, seed=seed)
            runs.append({"seed": seed, "val_auc": outcome.val["auc"], "test_auc": outcome.test["auc"],
                         "test_logloss": outcome.test["logloss"], "seconds": time.perf_counter() - tick})
        results[variant] = runs
    auto = [[names[i], names[j]] for i, j in data.spec.ranked_pairs[:3]]
    return {"rows": rows, "source_models": models, "source_trials": trials, "diagnosed_pairs": diagnosed,
            "consensus": consensus_pairs(store, study.id), "auto_pairs": auto, "variants": results,
            "tune_again": tune_again(home, trials)}


def markdown(result: dict) -> str:
    lines = ["| wide part | crosses | test AUC (mean ± sd) | test logloss | seeds |", "|---|---|---|---|---|"]
    def joined(pairs) -> str:
        return ", ".join("×".join(p) for p in pairs)

    crosses = {"none": "—", "auto": joined(result["auto_pairs"])}
    for variant, options in VARIANTS.items():
        if variant not in crosses:
            crosses[variant] = joined(result["diagnosed_pairs"][: options["n_diagnosed"]])
    for variant, runs in result["variants"].items():
        auc, loss = (np.array([r[k] for r in runs]) for k in ("test_auc", "test_logloss"))
        lines.append(f"| {variant} | {crosses[variant]} | {auc.mean():.4f} ± {auc.std(ddof=1):.4f} | "
                     f"{loss.mean():.4f} | {len(runs)} |")
    lines += ["", f"Tune again ({result['source_trials']} trials of Wide & Deep alone):", "",
              "| study | best test AUC | test logloss (calibrated) | chosen wide part |", "|---|---|---|---|"]
    for label, best in result.get("tune_again", {}).items():
        params = best.get("params") or {}
        part = params.get("cross_source", "auto")
        count = params.get("n_diagnosed" if part == "diagnosed" else "n_crosses")
        lines.append(f"| {label} | {best['test']['auc']:.4f} | {best['test']['logloss']:.4f} | "
                     f"{part}, {count} pairs |")
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--trials", type=int, default=12, help="trials of the source study")
    parser.add_argument("--models", default="fm,deepfm,gbdt", help="the source study's models")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    run_or_table(args, lambda: run(args.rows, args.trials, args.seeds, args.models), markdown)


if __name__ == "__main__":
    main()
