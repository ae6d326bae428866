"""MovieLens 100K benchmark (issue 4): rating prediction and implicit top-K, every model tuned with a
small, stated Optuna budget through CrossBoard's own encoding and training.

(a) rating: train on ``u1.base``, test on ``u1.test`` (the split GC-MC reports, RMSE 0.910 without
    and 0.905 with side features); the validation rows (``--val-share`` of u1.base, seeded) are
    carved from u1.base. Side features joined from ``u.user`` (age, gender, occupation) and
    ``u.item`` (genres, a '|' sequence); MF and AutoRec read the ids only. Every rating-capable
    model of the registry is tuned; early stopping and model choice on validation RMSE.
(b) implicit: ``u.data`` as positives (every rating), leave-one-out by timestamp, 99 sampled
    unseen items per held-out item (He et al., 2017), HR@10 / NDCG@10; study metric NDCG@10.

Tuning: one in-process Optuna study per model: TPE, the model's paper defaults (and the task's:
4 negatives on implicit) as trial 0, the median pruner, a wall-clock budget per model (at least
one trial). Test metrics are those of the trial with the best validation metric. The data is read
from ``--data`` in place, never copied.

    python -m benchmarks.ml100k_cf --out ml100k.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch

from automl.data.infer_schema import infer_schema
from automl.evaluation.ensemble import select, targets
from automl.evaluation.metrics import direction
from automl.features.encode import EncodedData, encode
from automl.features.prepare import make_assignment
from automl.features.splits import TEST, TRAIN, VAL
from automl.features.topk_split import encode_implicit, positive_rows
from automl.search.objective import TRIAL_FAILURES
from automl.training.fit import train_and_evaluate
from automl.training.loop import Verdict
from models import REGISTRY
from models.card import ScopedTrial
from models.common import TASK_DEFAULTS, task_space

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k-grouplens"
RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
# (label, registry card, fixed options): NeuMF appears with and without pretraining.
IMPLICIT_RUNS = [("pop", "pop", {}), ("random", "random", {}), ("mf", "mf", {}), ("gmf", "gmf", {}),
                 ("mlp", "mlp", {}), ("neumf", "neumf", {"pretrain": False}),
                 ("neumf (pretrained)", "neumf", {"pretrain": True}), ("two_tower", "two_tower", {}),
                 ("fm", "fm", {}), ("deepfm", "deepfm", {})]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def read_ratings(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", names=RATING_COLUMNS)


def side_features(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(users: user_id, age, gender, occupation; items: item_id, genres as 'A|B')."""
    users = pd.read_csv(data_dir / "u.user", sep="|", names=["user_id", "age", "gender", "occupation", "zip"])
    items = pd.read_csv(data_dir / "u.item", sep="|", encoding="latin-1", header=None)
    flags = items.iloc[:, 5:5 + len(GENRES)].to_numpy().astype(bool)
    genres = ["|".join(g for g, on in zip(GENRES, row, strict=True) if on) for row in flags]
    return users.drop(columns="zip"), pd.DataFrame({"item_id": items[0], "genres": genres})


def rating_data(data_dir: Path, val_share: float, seed: int) -> EncodedData:
    """u1.base (train, minus ``val_share`` of it as validation) + u1.test, with side features."""
    base, test = read_ratings(data_dir / "u1.base"), read_ratings(data_dir / "u1.test")
    users, items = side_features(data_dir)
    frame = pd.concat([base, test], ignore_index=True).merge(users, on="user_id", how="left")
    frame = frame.merge(items, on="item_id", how="left")
    assignment = np.r_[np.full(len(base), TRAIN, np.int8), np.full(len(test), TEST, np.int8)]
    carve = np.random.default_rng(seed).random(len(base)) < val_share
    assignment[:len(base)][carve] = VAL
    schema = infer_schema(frame, label="rating", task="rating",
                          roles={"user_id": "user", "item_id": "item", "timestamp": "timestamp", "age": "numeric",
                                 "gender": "categorical", "occupation": "categorical", "genres": "sequence"})
    return encode(frame, schema, assignment)


def implicit_data(data_dir: Path, candidates: int) -> EncodedData:
    """u.data: every rating a positive, leave-one-out by timestamp, ``candidates`` per held-out item."""
    frame = read_ratings(data_dir / "u.data")
    schema = infer_schema(frame, task="implicit")
    rows = positive_rows(frame, schema)
    assignment, _ = make_assignment(rows, schema)
    return encode_implicit(rows, schema, assignment, n_candidates=candidates)


def tune(card, fixed: dict, data: EncodedData, metric: str, seconds: float, args) -> dict:
    """Trials of ``card`` (defaults first, ``fixed`` options pinned) for about ``seconds``."""
    maximize = direction(metric) == "maximize"
    study = optuna.create_study(direction=direction(metric),
                                sampler=optuna.samplers.TPESampler(multivariate=True, group=True, seed=args.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    task_defaults = TASK_DEFAULTS.get(data.spec.task, {}) if card.kind == "torch" else {}
    study.enqueue_trial({**card.enqueue_params(), **{f"{card.name}.{k}": v for k, v in task_defaults.items()}})
    outputs = {}                                     # trial number -> its val/test outputs (for ensembles)

    def objective(trial: optuna.Trial) -> float:
        scoped = ScopedTrial(trial, trial.suggest_categorical("model", [card.name]))
        params = card.search_space(scoped, data.spec)
        if card.kind == "torch":
            params.update(task_space(scoped, data.spec))
        params.update(fixed)

        def reporter(epoch: int, value: float, val: dict) -> Verdict:
            if not math.isnan(value):
                trial.report(value, epoch)
            return Verdict.PRUNE if trial.should_prune() else Verdict.GO_ON

        tick = time.perf_counter()
        outcome = train_and_evaluate(card, params, data, metric=metric, max_epochs=args.epochs,
                                     patience=args.patience, reporter=reporter, seed=trial.number)
        outputs[trial.number] = outcome.outputs
        trial.set_user_attr("record", {"val": outcome.val, "test": outcome.test, "epochs": outcome.epochs,
                                       "seconds": time.perf_counter() - tick, "notes": outcome.notes,
                                       "params": {k: v for k, v in params.items()}})
        value = outcome.val.get(metric, math.nan)
        log(f"  {card.name} trial {trial.number}: {'pruned' if outcome.pruned else 'done'} "
            f"{outcome.epochs} epochs, {time.perf_counter() - tick:.0f}s, val {metric} {value:.4f}"
            + (f", test {outcome.test.get(metric, math.nan):.4f}" if outcome.test else ""))
        if outcome.pruned:
            raise optuna.TrialPruned()
        return value

    started = time.perf_counter()
    n_trials = 1 if card.kind == "baseline" else args.max_trials          # a baseline has no options
    study.optimize(objective, n_trials=n_trials, timeout=seconds, catch=TRIAL_FAILURES, gc_after_trial=False)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and not math.isnan(t.value)]
    best = (max if maximize else min)(done, key=lambda t: t.value) if done else None
    return {"trials": len(study.trials), "seconds": time.perf_counter() - started,
            "best": best.user_attrs["record"] if best else None,
            "default": study.trials[0].user_attrs.get("record"),
            "outputs": outputs.get(best.number) if best else None}


def blend(results: dict, data: EncodedData, metric: str) -> dict | None:
    """The ensemble CrossBoard's studies build (``automl.evaluation.ensemble``) over each model's best trial."""
    members = {name: r.pop("outputs") for name, r in results.items() if r.get("outputs") is not None}
    if len(members) < 2:
        return None
    bag, val, test = select(data.spec.task, metric, members, *targets(data))
    return {"weights": {n: c / bag.total() for n, c in bag.most_common()}, "val": val, "test": test}


def run_rating(args) -> dict:
    data = rating_data(args.data, args.val_share, args.seed)
    log(f"rating: {len(data.splits['train']['label']):,} train / {len(data.splits['val']['label']):,} val / "
        f"{len(data.splits['test']['label']):,} test rows")
    models = [name for name, card in REGISTRY.items() if "rating" in card.tasks and name in (args.models or [name])]
    results = {}
    for name in models:
        seconds = args.cf_seconds if name in ("mf", "autorec") else args.other_seconds
        log(f"rating: tuning {name} ({seconds:.0f}s)")
        results[name] = tune(REGISTRY[name], {}, data, "rmse", seconds, args)
    ensemble = blend(results, data, "rmse")
    log(f"rating: ensemble {ensemble}")
    return {**results, "ensemble": ensemble}


def run_implicit(args) -> dict:
    data = implicit_data(args.data, args.candidates)
    log(f"implicit: {len(data.splits['train']['label']):,} training positives, "
        f"{len(data.splits['test']['label']):,} users held out")
    results = {}
    for label, name, fixed in [run for run in IMPLICIT_RUNS if run[1] in (args.models or [run[1]])]:
        log(f"implicit: tuning {label} ({args.implicit_seconds:.0f}s)")
        results[label] = tune(REGISTRY[name], fixed, data, "ndcg@10", args.implicit_seconds, args)
        results[label].pop("outputs")
    return results


def markdown(results: dict) -> str:
    lines = []
    if "rating" in results:
        lines += ["| model | trials | val RMSE | test RMSE | test MAE | default config test RMSE |",
                  "|---|---|---|---|---|---|"]
        models = {name: r for name, r in results["rating"].items() if name != "ensemble"}
        for name, r in sorted(models.items(), key=lambda kv: kv[1]["best"]["test"]["rmse"] if kv[1]["best"] else math.inf):
            b, d = r["best"], r["default"]
            lines.append(f"| {name} | {r['trials']} | {b['val']['rmse']:.4f} | {b['test']['rmse']:.4f} | "
                         f"{b['test']['mae']:.4f} | {d['test'].get('rmse', math.nan) if d else math.nan:.4f} |")
        blended = results["rating"].get("ensemble")
        if blended:
            weights = ", ".join(f"{n} {w:.0%}" for n, w in blended["weights"].items())
            lines.append(f"| ensemble ({weights}) | - | {blended['val']['rmse']:.4f} | {blended['test']['rmse']:.4f} | "
                         f"{blended['test']['mae']:.4f} | - |")
        lines.append("")
    if "implicit" in results:
        lines += ["| model | trials | val NDCG@10 | test HR@10 | test NDCG@10 | test MRR |", "|---|---|---|---|---|---|"]
        for name, r in results["implicit"].items():
            b = r["best"]
            lines.append(f"| {name} | {r['trials']} | {b['val']['ndcg@10']:.4f} | {b['test']['hr@10']:.4f} | "
                         f"{b['test']['ndcg@10']:.4f} | {b['test']['mrr']:.4f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--part", choices=["rating", "implicit", "both"], default="both")
    parser.add_argument("--cf-seconds", type=float, default=150, help="rating budget for MF and AutoRec")
    parser.add_argument("--other-seconds", type=float, default=25, help="rating budget for every other model")
    parser.add_argument("--implicit-seconds", type=float, default=60, help="implicit budget per model")
    parser.add_argument("--max-trials", type=int, default=30)
    parser.add_argument("--models", type=lambda text: text.split(","), default=None,
                        help="comma-separated models to run (default: every rating-capable model; on implicit, "
                             "the models of IMPLICIT_RUNS)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--val-share", type=float, default=0.05)
    parser.add_argument("--candidates", type=int, default=99)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started, results = time.perf_counter(), {}
    if args.part in ("rating", "both"):
        results["rating"] = run_rating(args)
    if args.part in ("implicit", "both"):
        results["implicit"] = run_implicit(args)
    results["wall_seconds"] = time.perf_counter() - started
    results["command"] = "python -m benchmarks.ml100k_cf " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))
    print(f"\nwall time {results['wall_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
