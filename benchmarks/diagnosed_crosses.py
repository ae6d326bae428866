"""What ``cross_source = diagnosed`` buys Wide & Deep: a study of crossing models is tuned through
the product (``crossboard ingest`` / ``tune`` in a fresh home), its consensus pairs are read the
way ``tune --crosses-from`` reads them, and Wide & Deep is then fitted with its paper defaults
and three wide parts on the same split, over several seeds: no crosses, the ``auto`` crosses
ranked on the training split (the default, 3 pairs), and the diagnosed crosses.

    python -m benchmarks.diagnosed_crosses --rows 40000 --trials 12 --seeds 3 --out FILE
    python -m benchmarks.diagnosed_crosses --table FILE
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from automl.data import datasets
from automl.data.demo import demo_frame
from automl.diagnostics.consensus import detected_crosses
from automl.search.config import StudyConfig
from automl.search.worker import study_data
from automl.training.device import pick_device
from automl.training.fit import train_and_evaluate
from benchmarks.product_study import crossboard
from models import REGISTRY
from storage import Store
from storage.db import resolve_url

VARIANTS = {"none": {"cross_source": "auto", "n_crosses": 0}, "auto": {"cross_source": "auto", "n_crosses": 3},
            "diagnosed": {"cross_source": "diagnosed"}}


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
            "auto_pairs": auto, "variants": results}


def markdown(result: dict) -> str:
    lines = ["| wide part | crosses | test AUC (mean ± sd) | test logloss | seeds |", "|---|---|---|---|---|"]
    crosses = {"none": "—", "auto": ", ".join("×".join(p) for p in result["auto_pairs"]),
               "diagnosed": ", ".join("×".join(p) for p in result["diagnosed_pairs"])}
    for variant, runs in result["variants"].items():
        auc, loss = (np.array([r[k] for r in runs]) for k in ("test_auc", "test_logloss"))
        lines.append(f"| {variant} | {crosses[variant]} | {auc.mean():.4f} ± {auc.std(ddof=1):.4f} | "
                     f"{loss.mean():.4f} | {len(runs)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--trials", type=int, default=12, help="trials of the source study")
    parser.add_argument("--models", default="fm,deepfm,gbdt", help="the source study's models")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path)
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return
    result = run(args.rows, args.trials, args.seeds, args.models)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
