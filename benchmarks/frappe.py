"""Frappe benchmark (issue 3, item 5): every CTR model in the registry, tuned with the same Optuna
budget on the real Frappe data, next to DeepCTR-Torch's counterparts with their defaults.

Data: the NFM/AFM libFM split of Frappe (= BARS Frappe_x1) in ``shared/data/frappe/``; the train file
is missing there, so this benchmark trains on a stratified 80% of ``frappe.validation.libfm``,
validates on the other 20% and tests on ``frappe.test.libfm``. Both files go through CrossBoard's
own ingestion (``automl.data.read.read_table`` -> ``automl.data.infer_schema.infer_schema``) and encoding
(``automl.features.encode``, vocabularies from the training rows only). The files are read in
place, never copied.

Tuning: one in-process Optuna study per model (no database): TPE (as ``automl.search.sampling``), the
model's paper defaults enqueued as trial 0, the median pruner (as ``crossboard tune``'s default),
``automl.training.fit.train_and_evaluate`` with early stopping on validation AUC; the test metrics are
read at the trial with the best validation AUC.

DeepCTR-Torch (optional, when importable): DeepFM, WDL, NFM, PNN, DCNMix, AutoInt and xDeepFM with
their constructor defaults, embedding size 10, Adam (lr 1e-3), batch 256, on the same encoded
ids and split, at most ``--epochs`` epochs with early stopping on validation AUC (same patience)
and the best epoch's weights restored.

    python -m benchmarks.frappe --trials 8 --epochs 10 --model-timeout 150 --threads 1 --out frappe.json
    python -m benchmarks.frappe --probe            # time one epoch of each model's defaults, then exit

On a shared, loaded machine use ``--threads 1``: with 2 torch threads on 2 oversubscribed cores training
ran 10-17x slower (docs/BENCHMARKS.md, "Frappe (issue 3)").
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import shlex
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from automl.data.infer_schema import infer_schema
from automl.data.read import read_table
from automl.data.validate import label_vector
from automl.features.encode import EncodedData, encode
from automl.features.splits import SPLIT_NAMES, TEST, TRAIN, VAL
from automl.search.capabilities import schema_inputs
from automl.search.objective import TRIAL_FAILURES, failure_reason
from automl.training.fit import train_and_evaluate
from automl.training.loop import Verdict
from models import REGISTRY
from models.card import ScopedTrial

VALID_FILE, TEST_FILE = "frappe.validation.libfm", "frappe.test.libfm"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "frappe"
# libFM column -> the field it holds (shared/data/README.md §1), for the output only.
FIELD_NAMES = {"f1": "user", "f2": "item", "f3": "daytime", "f4": "weekday", "f5": "isweekend",
               "f6": "homework", "f7": "cost", "f8": "weather", "f9": "country", "f10": "city"}

# BARS Frappe_x1 test AUC / logloss (reczoo/BARS docs/CTR/leaderboard/frappe_x1.csv, commit bed1f4f;
# copy in shared/data/reference-results/bars/frappe_x1.csv). Trained on the full 202k-row train file.
BARS = {
    "lr": ("LR", 0.9356, 0.3076),
    "fm": ("FM", 0.9671, 0.2065),
    "afm": ("AFM", 0.9697, 0.2264),
    "nfm": ("NFM", 0.9804, 0.2058),
    "pnn": ("IPNN", 0.9841, 0.1540),
    "wide_deep": ("Wide&Deep", 0.9841, 0.1490),
    "deepfm": ("DeepFM", 0.9842, 0.1482),
    "dcnv2": ("DCN-V2", 0.9845, 0.1491),
    "autoint": ("AutoInt", 0.9831, 0.1637),
    "xdeepfm": ("xDeepFM", 0.9845, 0.1466),
}

# CrossBoard model -> its DeepCTR-Torch counterpart.
DEEPCTR_COUNTERPART = {"deepfm": "DeepFM", "wide_deep": "WDL", "nfm": "NFM", "pnn": "PNN",
                       "dcnv2": "DCNMix", "autoint": "AutoInt", "xdeepfm": "xDeepFM"}
DEEPCTR_EMBED = 10
DEEPCTR_BATCH = 256


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# --- data -----------------------------------------------------------------------------------------


def load_frappe(data_dir: Path, seed: int = 0) -> tuple[EncodedData, dict]:
    """Both libFM files through CrossBoard's ingestion; train/val = stratified 80/20 of the
    validation file, test = the test file; encoded with vocabularies from the training rows."""
    valid = read_table(data_dir / VALID_FILE)
    test = read_table(data_dir / TEST_FILE)
    for raw, name in ((valid, VALID_FILE), (test, TEST_FILE)):
        if raw.file_format != "libfm":
            raise SystemExit(f"{name} was read as {raw.file_format}, not libFM")
    if list(valid.frame.columns) != list(test.frame.columns):
        raise SystemExit(f"the two files read into different columns: {list(valid.frame.columns)} vs "
                         f"{list(test.frame.columns)}")
    schema = infer_schema(valid.frame)           # roles from the training file only
    if schema.task != "ctr":
        raise SystemExit(f"the schema was inferred as {schema.task!r}, not ctr: {schema.task_reason}")
    frame = pd.concat([valid.frame, test.frame], ignore_index=True)
    labels = label_vector(frame, schema)
    n_valid = len(valid.frame)
    assignment = np.full(len(frame), TEST, dtype=np.int8)
    assignment[:n_valid] = TRAIN
    _, val_rows = train_test_split(np.arange(n_valid), test_size=0.2, random_state=seed,
                                   stratify=labels[:n_valid])
    assignment[val_rows] = VAL
    data = encode(frame, schema, assignment)
    info = {
        "files": {"train+val": str(data_dir / VALID_FILE), "test": str(data_dir / TEST_FILE)},
        "file_format": valid.file_format,
        "schema": [{"column": c.name, "field": FIELD_NAMES.get(c.name, ""), "role": c.role, "reason": c.reason}
                   for c in schema.columns],
        "task_reason": schema.task_reason,
        "rows": {name: int((assignment == i).sum()) for i, name in enumerate(SPLIT_NAMES)},
        "positive_rate": {name: float(labels[assignment == i].mean()) for i, name in enumerate(SPLIT_NAMES)},
        "cardinalities": {f.name: f.cardinality for f in data.spec.fields},
        "oov_share_test": float((data.splits["test"]["cat"] == 0).float().mean()),
        "inputs": sorted(schema_inputs(schema)),
    }
    return data, info


# --- CrossBoard: one Optuna study per model -----------------------------------------------------------


def tune(card, data: EncodedData, args) -> dict:
    """``args.trials`` trials of ``card`` (paper defaults first) -> the summary of the study."""
    sampler = optuna.samplers.TPESampler(multivariate=True, group=True, seed=args.seed)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1) if args.pruner == "median"
              else optuna.pruners.NopPruner())
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.enqueue_trial(card.enqueue_params())

    def objective(trial: optuna.Trial) -> float:
        name = trial.suggest_categorical("model", [card.name])
        params = card.search_space(ScopedTrial(trial, name), data.spec)
        trial.set_user_attr("params", params)

        def reporter(epoch: int, value: float, val: dict) -> Verdict:
            if not math.isnan(value):
                trial.report(value, epoch)
            return Verdict.PRUNE if trial.should_prune() else Verdict.GO_ON

        tick = time.perf_counter()
        try:
            outcome = train_and_evaluate(card, params, data, metric="auc", max_epochs=args.epochs,
                                         patience=args.patience, reporter=reporter, seed=trial.number)
        except TRIAL_FAILURES as error:
            trial.set_user_attr("failure", failure_reason(error))
            log(f"  {card.name} trial {trial.number}: FAILED ({failure_reason(error)})")
            raise
        seconds = time.perf_counter() - tick
        epoch_seconds = [h["seconds"] for h in outcome.history]
        trial.set_user_attr("seconds", seconds)
        trial.set_user_attr("epochs", outcome.epochs)
        trial.set_user_attr("best_epoch", outcome.best_epoch)
        trial.set_user_attr("train_seconds_per_epoch", float(np.mean(epoch_seconds)) if epoch_seconds else None)
        trial.set_user_attr("n_params", outcome.n_params)
        trial.set_user_attr("val", outcome.val)
        trial.set_user_attr("test", outcome.test)
        val_auc = outcome.val.get("auc", float("nan"))
        state = "pruned" if outcome.pruned else "done"
        test_text = f" test AUC {outcome.test['auc']:.4f}" if outcome.test else ""
        log(f"  {card.name} trial {trial.number}: {state} after {outcome.epochs} epochs (best {outcome.best_epoch}),"
            f" {seconds:.1f}s, val AUC {val_auc:.4f}{test_text}  {_short_params(params)}")
        if outcome.pruned:
            raise optuna.TrialPruned(f"pruned at epoch {outcome.epochs}")
        return val_auc

    started = time.perf_counter()
    study.optimize(objective, n_trials=args.trials, timeout=args.model_timeout, catch=TRIAL_FAILURES,
                   gc_after_trial=False)
    wall = time.perf_counter() - started
    trials = study.get_trials(deepcopy=False)
    states = optuna.trial.TrialState
    complete = [t for t in trials if t.state == states.COMPLETE and t.value is not None and not math.isnan(t.value)]
    summary = {
        "model": card.name,
        "title": card.title,
        "wall_seconds": wall,
        "trials": len(trials),
        "complete": sum(t.state == states.COMPLETE for t in trials),
        "pruned": sum(t.state == states.PRUNED for t in trials),
        "failed": sum(t.state == states.FAIL for t in trials),
        "epochs_trained": int(sum(t.user_attrs.get("epochs", 0) for t in trials)),
        "trial_log": [_trial_record(t) for t in trials],
    }
    if complete:
        best = max(complete, key=lambda t: t.value)
        summary.update(best=_trial_record(best), default=_trial_record(trials[0]))
    return summary


def _trial_record(trial) -> dict:
    attrs = trial.user_attrs
    return {"number": trial.number, "state": trial.state.name, "value": trial.value, "params": attrs.get("params"),
            "val": attrs.get("val"), "test": attrs.get("test"), "epochs": attrs.get("epochs"),
            "best_epoch": attrs.get("best_epoch"), "seconds": attrs.get("seconds"),
            "train_seconds_per_epoch": attrs.get("train_seconds_per_epoch"), "n_params": attrs.get("n_params"),
            "failure": attrs.get("failure")}


def _short_params(params: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


# --- DeepCTR-Torch ----------------------------------------------------------------------------------


def deepctr_available() -> bool:
    try:
        import deepctr_torch  # noqa: F401
    except ImportError:
        return False
    return True


def keep_best_callback(patience: int):
    """A DeepCTR-Torch callback: early stopping on ``val_auc`` with ``patience``; it keeps the best
    epoch's weights in ``.state`` (the caller restores them after ``fit``, also when training ran
    out of epochs without a stop, which DeepCTR-Torch's own EarlyStopping would not restore)."""
    from deepctr_torch.callbacks import Callback

    class KeepBest(Callback):
        def on_train_begin(self, logs=None):
            self.best, self.best_epoch, self.wait, self.state, self.history = -math.inf, 0, 0, None, []

        def on_epoch_begin(self, epoch, logs=None):
            self.tick = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            auc = float(logs.get("val_auc", float("nan")))
            self.history.append({"epoch": epoch + 1, "val_auc": auc,
                                 "val_logloss": float(logs.get("val_binary_crossentropy", float("nan"))),
                                 "seconds": time.perf_counter() - self.tick})
            log(f"    epoch {epoch + 1}: val AUC {auc:.4f} ({self.history[-1]['seconds']:.1f}s)")
            if auc > self.best:
                self.best, self.best_epoch, self.wait = auc, epoch + 1, 0
                self.state = copy.deepcopy(self.model.state_dict())
            else:
                self.wait += 1
                if self.wait >= patience:
                    self.model.stop_training = True

    return KeepBest()


def deepctr_models(columns: list) -> dict:
    """name -> constructor returning the model with its library defaults (binary task, CPU)."""
    from deepctr_torch.models import NFM, PNN, WDL, AutoInt, DCNMix, DeepFM, xDeepFM

    common = {"task": "binary", "device": "cpu"}
    return {
        "DeepFM": lambda: DeepFM(columns, columns, **common),
        "WDL": lambda: WDL(columns, columns, **common),
        "NFM": lambda: NFM(columns, columns, **common),
        "PNN": lambda: PNN(columns, **common),
        "DCNMix": lambda: DCNMix(columns, columns, **common),
        "AutoInt": lambda: AutoInt(columns, columns, **common),
        "xDeepFM": lambda: xDeepFM(columns, columns, **common),
    }


def run_deepctr(data: EncodedData, args, names: list[str] | None = None, max_epochs: int | None = None) -> dict:
    """Train each DeepCTR-Torch counterpart once with its defaults -> name -> result."""
    from deepctr_torch.inputs import SparseFeat

    fields = data.spec.fields
    columns = [SparseFeat(f.name, vocabulary_size=f.cardinality, embedding_dim=DEEPCTR_EMBED) for f in fields]

    def inputs(split):
        cat = data.splits[split]["cat"].numpy()
        return {f.name: cat[:, j] for j, f in enumerate(fields)}, data.splits[split]["label"].numpy().astype(np.float32)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = inputs("train"), inputs("val"), inputs("test")
    results = {}
    for name, build in deepctr_models(columns).items():
        if names is not None and name not in names:
            continue
        log(f"DeepCTR-Torch {name}")
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        model = build()
        model.compile("adam", "binary_crossentropy", metrics=["auc", "binary_crossentropy"])
        keeper = keep_best_callback(args.patience)
        started = time.perf_counter()
        model.fit(x_train, y_train, batch_size=DEEPCTR_BATCH, epochs=max_epochs or args.epochs, verbose=0,
                  validation_data=(x_val, y_val), callbacks=[keeper])
        train_seconds = time.perf_counter() - started
        if keeper.state is not None:
            model.load_state_dict(keeper.state)
        p_test = model.predict(x_test, batch_size=16_384).reshape(-1)
        p_val = model.predict(x_val, batch_size=16_384).reshape(-1)
        results[name] = {
            "val": _prob_metrics(y_val, p_val),
            "test": _prob_metrics(y_test, p_test),
            "epochs": len(keeper.history),
            "best_epoch": keeper.best_epoch,
            "wall_seconds": time.perf_counter() - started,
            "train_seconds": train_seconds,
            "n_params": sum(p.numel() for p in model.parameters()),
            "history": keeper.history,
        }
        r = results[name]
        log(f"  {name}: test AUC {r['test']['auc']:.4f} logloss {r['test']['logloss']:.4f} "
            f"(best epoch {r['best_epoch']} of {r['epochs']}, {r['wall_seconds']:.0f}s)")
    return results


def _prob_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    y = y.astype(np.int64)
    return {"auc": float(roc_auc_score(y, p)), "logloss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))}


# --- probe: one epoch of each default configuration ----------------------------------------------------


def probe(data: EncodedData, args, models: list[str]) -> None:
    """Time one epoch of every model's default configuration (and of each DeepCTR-Torch model)."""
    for name in models:
        card = REGISTRY[name]
        tick = time.perf_counter()
        outcome = train_and_evaluate(card, dict(card.defaults), data, metric="auc", max_epochs=1, patience=1)
        log(f"probe {name:14s} 1 epoch: {outcome.history[0]['seconds']:6.1f}s train, "
            f"{time.perf_counter() - tick:6.1f}s total, val AUC {outcome.val['auc']:.4f}")
    if not args.skip_deepctr and deepctr_available():
        for name, r in run_deepctr(data, args, max_epochs=1).items():
            log(f"probe DeepCTR {name:8s} 1 epoch: {r['wall_seconds']:6.1f}s total, val AUC {r['val']['auc']:.4f}")


# --- report -----------------------------------------------------------------------------------------


def _fmt(value, digits: int = 4) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def markdown_table(results: dict) -> str:
    rows = [
        ("| model | test AUC | test logloss | val AUC | trials (done / pruned / failed) | wall | "
         "paper-default test AUC | DeepCTR-Torch | its test AUC | its logloss | its epochs (best) | its wall | "
         "BARS (full train) AUC |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    deepctr = results.get("deepctr") or {}
    for name, s in results["crossboard"].items():
        best, default = s.get("best"), s.get("default")
        counterpart = DEEPCTR_COUNTERPART.get(name)
        d = deepctr.get(counterpart) if counterpart else None
        bars = BARS.get(name)
        rows.append("| " + " | ".join([
            name,
            _fmt(best and best["test"].get("auc")),
            _fmt(best and best["test"].get("logloss")),
            _fmt(best and best["val"].get("auc")),
            f"{s['trials']} ({s['complete']} / {s['pruned']} / {s['failed']})",
            _minutes(s["wall_seconds"]),
            _fmt(default["test"].get("auc")) if default and default.get("test") else "—",
            counterpart or "—",
            _fmt(d and d["test"]["auc"]),
            _fmt(d and d["test"]["logloss"]),
            f"{d['epochs']} ({d['best_epoch']})" if d else "—",
            _minutes(d["wall_seconds"]) if d else "—",
            f"{bars[1]:.4f} ({bars[0]})" if bars else "—",
        ]) + " |")
    for name, error in (results.get("errors") or {}).items():
        rows.append(f"| {name} | error: {error} |" + " |" * 11)
    return "\n".join(rows)


def budget_text(results: dict) -> str:
    b = results["budget"]
    text = (f"{b['trials']} trials per model, Optuna TPE (multivariate, seed {b['seed']}), the paper-default "
            f"configuration enqueued as trial 0, {b['pruner']} pruner, at most {b['epochs']} epochs per trial, "
            f"early stopping on validation AUC with patience {b['patience']}")
    if b.get("model_timeout"):
        text += f", and a cap of {b['model_timeout']:.0f} s per model (a trial running at the cap finishes)"
    return text + "."


# --- main ---------------------------------------------------------------------------------------------


def runnable_models(inputs: set[str]) -> dict[str, str | None]:
    """Registry name -> None when the model runs on this data for ctr, else why it cannot."""
    return {name: card.unavailable_reason("ctr", inputs) for name, card in REGISTRY.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frappe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, help="Optuna trials per model (default 12)")
    parser.add_argument("--epochs", type=int, default=10, help="max epochs per trial / DeepCTR run (default 10)")
    parser.add_argument("--patience", type=int, default=2, help="early-stopping patience in epochs (default 2)")
    parser.add_argument("--models", default=None,
                        help="comma-separated registry names (default: every registry model that supports ctr "
                             "and can run on Frappe's columns)")
    parser.add_argument("--skip-deepctr", action="store_true", help="do not run the DeepCTR-Torch counterparts")
    parser.add_argument("--deepctr-models", default=None,
                        help="comma-separated DeepCTR-Torch names (default: all seven)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--pruner", choices=("median", "none"), default="median")
    parser.add_argument("--model-timeout", type=float, default=None,
                        help="optional cap in seconds per model study (default: none, trials only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CROSSBOARD_FRAPPE_DIR", DEFAULT_DATA)),
                        help=f"folder holding {VALID_FILE} and {TEST_FILE}")
    parser.add_argument("--out", type=Path, default=None, help="write all results as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--probe", action="store_true", help="time one epoch of each default configuration, then exit")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="take the CrossBoard results of models already in this JSON (an earlier --out of the "
                             "same data, split and budget) instead of tuning them again")
    args = parser.parse_args(argv)
    args.model_list = None
    if args.models is not None:
        args.model_list = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = [m for m in args.model_list if m not in REGISTRY]
        if unknown:
            parser.error(f"unknown model(s) {', '.join(unknown)}; the registry has {', '.join(REGISTRY)}")
    return args


def choose_models(args, inputs: set[str]) -> tuple[list[str], dict[str, str]]:
    """(models to run, skipped model -> reason); an explicitly named model that cannot run is an error."""
    reasons = runnable_models(inputs)
    if args.model_list is not None:
        bad = {m: reasons[m] for m in args.model_list if reasons[m]}
        if bad:
            raise SystemExit("cannot run on Frappe: " + "; ".join(bad.values()))
        return args.model_list, {}
    return [m for m, r in reasons.items() if r is None], {m: r for m, r in reasons.items() if r}


def load_reused(path: Path, results: dict) -> dict:
    """Model -> summary from an earlier run's JSON, after checking it used the same data, split and budget."""
    earlier = json.loads(path.read_text())
    for key in ("trials", "epochs", "patience", "pruner", "seed", "model_timeout"):
        if earlier["budget"].get(key) != results["budget"][key]:
            raise SystemExit(f"--reuse {path}: its budget {key}={earlier['budget'].get(key)!r} differs from this "
                             f"run's {results['budget'][key]!r}")
    for key in ("rows", "cardinalities", "positive_rate"):
        if earlier["data"].get(key) != results["data"][key]:
            raise SystemExit(f"--reuse {path}: its data ({key}) differs from this run's")
    results["reused"] = {"path": str(path), "command": earlier.get("command"), "date": earlier.get("date"),
                         "models": [m for m, s in earlier["crossboard"].items() if s.get("best")]}
    return {m: s for m, s in earlier["crossboard"].items() if s.get("best")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)   # TPE's ``group``
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)          # scikit-learn's OpenMP (GBDT) too
    except ImportError:
        pass
    command = "python -m benchmarks.frappe " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    started = time.perf_counter()
    tick = time.perf_counter()
    data, info = load_frappe(args.data, args.seed)
    load_seconds = time.perf_counter() - tick
    log(f"data: {info['rows']} rows, cardinalities {info['cardinalities']}, loaded in {load_seconds:.1f}s")
    model_list, skipped = choose_models(args, set(info["inputs"]))
    for name, reason in skipped.items():
        log(f"skipped {name}: {reason}")
    if args.probe:
        probe(data, args, model_list)
        return 0

    results = {
        "benchmark": "frappe (issue 3, item 5)",
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": args.threads, "cuda": torch.cuda.is_available(),
                    "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "optuna": optuna.__version__},
        "budget": {"trials": args.trials, "epochs": args.epochs, "patience": args.patience, "pruner": args.pruner,
                   "seed": args.seed, "model_timeout": args.model_timeout, "metric": "validation AUC",
                   "sampler": "TPESampler(multivariate=True, group=True)"},
        "data": {**info, "load_seconds": load_seconds},
        "models": model_list,
        "skipped_models": skipped,
        "crossboard": {},
        "errors": {},
        "deepctr": None,
        "deepctr_settings": {"embedding_dim": DEEPCTR_EMBED, "batch_size": DEEPCTR_BATCH, "optimizer": "adam (lr 1e-3)",
                             "max_epochs": args.epochs, "patience": args.patience,
                             "early_stopping": "validation AUC, best epoch's weights restored"},
        "bars": {k: {"model": v[0], "auc": v[1], "logloss": v[2]} for k, v in BARS.items()},
    }

    def save() -> None:
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, default=str))

    reused = load_reused(args.reuse, results) if args.reuse else {}
    for name in model_list:
        if name in reused:
            results["crossboard"][name] = {**reused[name], "reused": True}
            log(f"CrossBoard {name}: reused from {args.reuse}")
            continue
        log(f"CrossBoard {name}: {args.trials} trials")
        try:
            summary = tune(REGISTRY[name], data, args)
        except Exception as error:  # noqa: BLE001 -- one broken model must not end the benchmark
            results["errors"][name] = repr(error)
            log(f"{name}: ERROR {error!r}")
            save()
            continue
        results["crossboard"][name] = summary
        best = summary.get("best")
        if best:
            log(f"{name}: best trial {best['number']} val AUC {best['val']['auc']:.4f} -> test AUC "
                f"{best['test']['auc']:.4f} logloss {best['test']['logloss']:.4f}; "
                f"{summary['complete']}/{summary['pruned']}/{summary['failed']} done/pruned/failed in "
                f"{summary['wall_seconds']:.0f}s")
        else:
            log(f"{name}: no trial completed")
        save()

    if args.skip_deepctr:
        log("DeepCTR-Torch skipped (--skip-deepctr)")
    elif not deepctr_available():
        log("DeepCTR-Torch is not importable; its counterparts are left out (pip install deepctr-torch)")
    else:
        wanted = args.deepctr_models.split(",") if args.deepctr_models else None
        results["deepctr"] = run_deepctr(data, args, wanted)
    results["total_seconds"] = time.perf_counter() - started
    save()

    table = markdown_table(results)
    print()
    print(f"Command: {command}")
    print(f"Budget: {budget_text(results)}")
    print(f"Machine: {os.cpu_count()} CPU cores, torch threads {args.threads}, "
          f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}; total {_minutes(results['total_seconds'])}")
    print()
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
