"""Which learning rate suits the models with large MLP towers as a starting point of the search?
Each model's card defaults are fitted with each ``--lrs`` value on the same split of a generated
log (planted pairwise and history effects), ingested through the product (``crossboard ingest`` in
a fresh home) and encoded as a study's workers encode it, by the fitting code the workers run
(early stopping on validation AUC, patience 2), over several seeds.

    python -m benchmarks.mlp_lr --rows 40000 --seeds 2 --out benchmarks/results/mlp_lr.json
    python -m benchmarks.mlp_lr --table benchmarks/results/mlp_lr.json
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from automl.data.demo import demo_frame
from automl.search.config import StudyConfig
from automl.search.data import study_data
from automl.search.study import create_study
from automl.training.device import pick_device
from automl.training.fit import train_and_evaluate
from benchmarks.product_study import crossboard
from benchmarks.saved import parser_for, run_or_table
from models import REGISTRY
from storage import Store
from storage.db import resolve_url

MODELS = "deepfm,pnn,dcnv2,deep_crossing,autoint,din,bst"


def run(rows: int, models: list[str], lrs: list[float], seeds: int, max_epochs: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="crossboard-lr-"))
    path = home / "demo.csv"
    demo_frame(n_rows=rows).to_csv(path, index=False)
    crossboard(home, "ingest", str(path), "--name", "demo")
    store = Store(resolve_url(None, home))
    config = StudyConfig(models=models, n_trials=1)
    study = create_study(store, store.find_dataset("demo"), config, name="lr")
    data = study_data(store, study, config, home, pick_device("cpu"))
    runs = []
    for name in models:
        card = REGISTRY[name]
        for lr in lrs:
            for seed in range(seeds):
                tick = time.perf_counter()
                outcome = train_and_evaluate(card, {**card.defaults, "lr": lr}, data, metric="auc",
                                             max_epochs=max_epochs, patience=2, seed=seed)
                runs.append({"model": name, "lr": lr, "seed": seed, "default_lr": card.defaults["lr"],
                             "val_auc": outcome.val["auc"], "test_auc": outcome.test["auc"],
                             "test_logloss": outcome.test["logloss"], "epochs": outcome.best_epoch,
                             "seconds": time.perf_counter() - tick})
                print(json.dumps(runs[-1]), flush=True)
    return {"rows": rows, "seeds": seeds, "max_epochs": max_epochs, "lrs": lrs, "runs": runs}


def markdown(result: dict) -> str:
    lines = ["| model | lr | val AUC (mean ± sd) | test AUC | test logloss (calibrated) | best epoch | seconds |",
             "|---|---|---|---|---|---|---|"]
    models = list(dict.fromkeys(r["model"] for r in result["runs"]))
    for name in models:
        for lr in result["lrs"]:
            runs = [r for r in result["runs"] if r["model"] == name and r["lr"] == lr]
            val, test, loss, epochs, seconds = (np.array([r[k] for r in runs], dtype=float) for k in
                                                ("val_auc", "test_auc", "test_logloss", "epochs", "seconds"))
            lines.append(f"| {name} | {lr:g} | {val.mean():.4f} ± {val.std(ddof=1) if len(val) > 1 else 0:.4f} | "
                         f"{test.mean():.4f} | {loss.mean():.4f} | {epochs.mean():.1f} | {seconds.mean():.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--lrs", default="0.001,0.003")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20, help="epochs at most (early stopping, patience 2)")
    args = parser.parse_args()
    run_or_table(args, lambda: run(args.rows, args.models.split(","), [float(x) for x in args.lrs.split(",")], args.seeds, args.epochs), markdown)


if __name__ == "__main__":
    main()
