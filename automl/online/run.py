"""An online study's replays: every model's best offline trial run over the stream in each of its
modes, the mode's own options chosen first on the tuning windows (the oldest windows of the
stream, never reported), then the whole stream replayed with them and the windows after the
tuning ones reported. Each (model, mode) is a row of ``cb_online_runs``, claimed under the study's
lock so that several workers share the replays."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from pathlib import Path

import optuna

from automl.data.datasets import get_dataset
from automl.errors import CrossBoardError
from automl.evaluation.calibration import Platt
from automl.evaluation.metrics import is_better
from automl.features.encode import EncodedData
from automl.online.drn import MODE as DRN_MODE
from automl.online.drn import DRNLearner, DRNOptions
from automl.online.interleave import METHODS
from automl.online.modes import (
    INCREMENTAL_LR_SCALES,
    RETRAIN_EVERY,
    Incremental,
    Refit,
    Retrain,
    Static,
    clone,
)
from automl.online.replay import Halt, Halted, Learner, Replay, finite_or_none, replay
from automl.online.stream import SHARED_MODES, Log, OnlineSettings, make_log, split_seconds
from automl.training.artifacts import fitted_model, stored_calibration
from models import REGISTRY
from models.card import ModelKind
from storage import Store
from storage.tables import StudyRow, TrialResultRow

DRN_TUNING_TRIALS = 8
STOPPED = "stopped"          # the state of a replay its study's stop or time limit ended
ONLINE_METRICS = ("auc", "logloss")

# options -> a learner starting from a fresh copy of the offline model
MakeLearner = Callable[[dict], Learner]


def modes_of(model: str, settings: OnlineSettings) -> list[str]:
    """The modes ``model`` replays: the study's shared modes it supports (incremental needs a neural
    model), then its card's own online mode (DRN's ``drn``), if it has one."""
    card = REGISTRY[model]
    modes = [m for m in settings.modes if m in SHARED_MODES and (m != "incremental" or card.kind is ModelKind.TORCH)]
    return modes + ([card.online_mode] if card.online_mode else [])


def tuning_metric(metric: str) -> str:
    """The metric the modes' options are chosen by: the study's when it is an online metric, else AUC."""
    return metric if metric in ONLINE_METRICS else "auc"


def candidate_options(mode: str) -> list[dict] | None:
    """The options a mode tries on the tuning windows (None: DRN's, sampled by Optuna)."""
    return {"static": [{}], "incremental": [{"lr_scale": s} for s in INCREMENTAL_LR_SCALES],
            "retrain": [{"every": m} for m in RETRAIN_EVERY]}.get(mode)


def drn_space(trial: optuna.Trial) -> dict:
    """DRN's online options (``DRNOptions``) as an Optuna search space."""
    return {"alpha": trial.suggest_float("alpha", 0.01, 0.3, log=True),
            "eta": trial.suggest_float("eta", 0.05, 1.0, log=True),
            "every": trial.suggest_categorical("every", [1, 2, 4]),
            "gamma": trial.suggest_categorical("gamma", [0.0, 0.5, 0.9]),
            "beta": trial.suggest_categorical("beta", [0.0, 0.1, 0.5]),
            "method": trial.suggest_categorical("method", list(METHODS)),
            "parts": trial.suggest_categorical("parts", [1, 2, 4])}


def learner_factory(mode: str, model, row: TrialResultRow, refit: Refit) -> MakeLearner:
    """options -> a learner of ``mode`` starting from a copy of the offline ``model``."""
    params = json.loads(row.params_json)
    if mode == "incremental":
        return lambda options: Incremental(clone(model), params, options["lr_scale"])
    if mode == "retrain":
        return lambda options: Retrain(clone(model), refit, options["every"])
    if mode == DRN_MODE:
        return lambda options: DRNLearner(clone(model), params, DRNOptions(**options), seed=row.trial_number)
    return lambda options: Static(clone(model))


def choose_options(mode: str, make: MakeLearner, log: Log, calibration: Platt, metric: str,
                   halt: Halt | None = None) -> tuple[dict, list]:
    """(the options that score best on the tuning windows, every candidate with its value)."""
    tried: list[dict] = []

    def value_of(options: dict) -> float:
        found = replay(make(options), log, range(log.n_tuning), calibration, halt=halt).overall()[metric]
        tried.append({"options": options, "value": finite_or_none(found)})
        return found

    candidates = candidate_options(mode)
    if candidates is None:
        study = optuna.create_study(direction="maximize" if metric == "auc" else "minimize",
                                    sampler=optuna.samplers.TPESampler(seed=0))
        study.enqueue_trial(DRNOptions().as_dict())
        study.optimize(lambda trial: value_of(drn_space(trial)), n_trials=DRN_TUNING_TRIALS)
    elif len(candidates) > 1:
        for options in candidates:
            value_of(options)
    else:
        return candidates[0], []
    best = None
    for entry in tried:
        if best is None or is_better(metric, entry["value"], best["value"]):
            best = entry
    return (best or tried[0])["options"], tried


def summary(found: Replay, learner: Learner, log: Log) -> dict:
    """The JSON kept for one replay: overall metrics, per-window metrics (DRN: each window's duels,
    summed: the credit of each side and how many the explore network won)."""
    windows = [{k: finite_or_none(v) for k, v in w.items()} for w in found.windows]
    duels = getattr(learner, "duels", None)
    if duels:
        for entry in windows:
            mine = [d for d in duels if d["window"] == entry["window"]]
            entry["duel"] = {"live": sum(d["live"] for d in mine), "explore": sum(d["explore"] for d in mine),
                             "adopted": sum(d["adopted"] for d in mine), "updates": len(mine)}
    return {**{k: finite_or_none(v) for k, v in found.overall().items()}, "windows": windows,
            "tuning_windows": log.n_tuning, "reported_windows": len(windows)}


def replay_mode(mode: str, model, row: TrialResultRow, refit: Refit, log: Log, calibration: Platt,
                metric: str) -> dict:
    """One (model, mode): options chosen on the tuning windows, then the full replay (both asking
    ``refit.halt`` between windows)."""
    make = learner_factory(mode, model, row, refit)
    options, tried = choose_options(mode, make, log, calibration, tuning_metric(metric), refit.halt)
    learner = make(options)
    found = replay(learner, log, range(log.n_windows), calibration, reported=range(log.n_tuning, log.n_windows),
                   halt=refit.halt)
    return {**summary(found, learner, log), "options": options, "tuning": {"metric": tuning_metric(metric),
                                                                           "candidates": tried}}


def run_online(store: Store, study: StudyRow, settings: OnlineSettings, data: EncodedData, home: Path,
               best: list[TrialResultRow], max_epochs: int, patience: int, worker_id: int | None = None,
               halt: Halt | None = None) -> int:
    """Replay every unclaimed (model, mode) of the models' ``best`` offline trials; -> how many
    this call ran. A failed replay is kept with its reason and costs neither the others nor the worker.
    ``halt`` (the study's stop or its time) is asked before each replay and between windows: the replay
    it ends is kept as "stopped" with the reason, and no other starts."""
    log: Log | None = None
    ran = 0
    for row in best:
        model = None
        for mode in modes_of(row.model, settings):
            if halt is not None and halt():
                return ran
            if not store.claim_online_run(study.id, row.model, mode, row.trial_number, worker_id):
                continue
            ran += 1
            try:
                if log is None:
                    log = make_log(data, split_seconds(store, get_dataset(store, study.dataset_id), home, settings),
                                   settings)
                if model is None:
                    model = fitted_model(store, study, data, row)
                refit = Refit(REGISTRY[row.model], json.loads(row.params_json), data.spec, study.metric, max_epochs,
                              patience, row.trial_number, halt)
                result = replay_mode(mode, model, row, refit, log, offline_calibration(row), study.metric)
            except Halted as halted:
                store.finish_online_run(study.id, row.model, mode, state=STOPPED, reason=str(halted))
                return ran
            except CrossBoardError as error:
                store.finish_online_run(study.id, row.model, mode, state="failed", reason=str(error))
            except Exception as error:  # noqa: BLE001 -- one replay's fault is kept with its story
                store.finish_online_run(study.id, row.model, mode, state="failed",
                                        reason=f"{type(error).__name__}: {error}\n{traceback.format_exc()[-2000:]}")
            else:
                store.finish_online_run(study.id, row.model, mode, state="done", result_json=json.dumps(result))
    return ran


def offline_calibration(row: TrialResultRow) -> Platt:
    """The Platt calibration the offline trial fitted on its validation rows (identity without one)."""
    return stored_calibration(json.loads(row.extra_json or "{}")) or Platt()
