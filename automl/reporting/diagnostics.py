"""What a study's trials say together about interactions and options: the consensus field pairs
(``automl.diagnostics.consensus``), for every model the validation metric across the trials that
used each value of each discrete option (crossing, attention, numeric handling, sizes, ...) with
a Kruskal–Wallis test, and Optuna's PED-ANOVA parameter importances per model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TypedDict

import numpy as np
import optuna
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from scipy.stats import kruskal

from automl.diagnostics.consensus import consensus_view
from automl.diagnostics.results import ConsensusPair, TrialDiagnostics
from automl.diagnostics.stored import Progress, kept, silent, trial_diagnostics
from automl.errors import NotFoundError
from automl.search.allocation import MODEL_PARAM
from automl.search.config import StudyConfig
from automl.search.data import study_data
from automl.search.optuna_storage import optuna_storage
from automl.training.device import pick_device
from storage import Store
from storage.store import loads
from storage.tables import StudyRow, TrialState

MAX_OPTION_VALUES = 8          # a discrete option has at most this many distinct values
MIN_IMPORTANCE_TRIALS = 4      # completed trials of a model before its parameter importances mean anything
TRIAL_STEPS = 3                # the steps ``trial_view`` tells its progress of: the data, the model, the scoring


def option_comparisons(store: Store, study: StudyRow) -> list[dict]:
    """``{"model", "option", "values": [{"value", "count", "mean", "median", "metrics"}], "p_value"}`` for
    every discrete option a model's completed trials set to two or more values; p_value: Kruskal–Wallis
    over the values with two or more trials (None with fewer than two such values), smallest first."""
    by_model: dict[str, list[tuple[dict, float]]] = {}
    for row in store.results(study.id):
        value = loads(row.val_json).get(study.metric)
        if row.state == TrialState.COMPLETE and value is not None and np.isfinite(value):
            by_model.setdefault(row.model, []).append((loads(row.params_json), float(value)))
    comparisons = []
    for model, trials in sorted(by_model.items()):
        for option in sorted({k for params, _ in trials for k in params}):
            groups: dict[str, list[float]] = {}
            for params, value in trials:
                if option in params and not isinstance(params[option], float):
                    groups.setdefault(json.dumps(params[option]), []).append(value)
            if not 2 <= len(groups) <= MAX_OPTION_VALUES:
                continue
            tested = [v for v in groups.values() if len(v) >= 2]
            comparisons.append({
                "model": model, "option": option, "p_value": kruskal_p(tested),
                "values": [{"value": json.loads(k), "count": len(v), "mean": float(np.mean(v)),
                            "median": float(np.median(v)), "metrics": v} for k, v in sorted(groups.items())]})
    return sorted(comparisons, key=lambda c: (c["p_value"] is None, c["p_value"] or 0.0, c["model"], c["option"]))


def kruskal_p(groups: list[list[float]]) -> float | None:
    if len(groups) < 2 or len({x for g in groups for x in g}) < 2:
        return None
    return float(kruskal(*groups).pvalue)


def parameter_importances(store: Store, study: StudyRow) -> dict[str, dict[str, float]]:
    """Model -> {option: PED-ANOVA importance} over the model's completed trials (options named
    without the model prefix), for models with at least ``MIN_IMPORTANCE_TRIALS`` of them."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=study.optuna_name, storage=optuna_storage(store.url)).get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    by_model: dict[str, list] = {}
    for trial in trials:
        by_model.setdefault(trial.params.get(MODEL_PARAM), []).append(trial)
    importances = {}
    for model, model_trials in sorted(by_model.items(), key=lambda kv: str(kv[0])):
        if model is None or len(model_trials) < MIN_IMPORTANCE_TRIALS:
            continue
        scratch = optuna.create_study(direction=study.direction)
        scratch.add_trials([optuna.trial.create_trial(value=t.value, **in_range(t)) for t in model_trials])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                found = get_param_importances(scratch, evaluator=PedAnovaImportanceEvaluator())
            except (ValueError, RuntimeError):     # e.g. every trial with the same value
                continue
        importances[model] = {k.removeprefix(f"{model}."): float(v) for k, v in found.items()}
    return importances


def in_range(trial: optuna.trial.FrozenTrial) -> dict:
    """{"params", "distributions"} of a trial's options (the model choice left out), without any whose value lies
    outside its distribution: an enqueued default the data's range did not allow (Wide & Deep's n_crosses=3 on
    data with no pair to cross) is kept by Optuna but refused by ``create_trial``."""
    kept = {k: d for k, d in trial.distributions.items() if k != MODEL_PARAM and k in trial.params
            and d._contains(d.to_internal_repr(trial.params[k]))}
    return {"params": {k: trial.params[k] for k in kept}, "distributions": kept}


class StudyDiagnostics(TypedDict):
    consensus: list[ConsensusPair]                 # ``automl.diagnostics.consensus``
    weights: dict[str, float]                      # voter -> its weight in the consensus
    not_interactions: list[dict]                   # pairs of a field with one it determines, with the reason
    misses: list[dict]                             # pairs a model did not learn that other voters show
    options: list[dict]                            # ``option_comparisons``
    importance: dict[str, dict[str, float]]        # ``parameter_importances``


def study_diagnostics(store: Store, study: StudyRow) -> StudyDiagnostics:
    """What the study's trials say together (see the functions above)."""
    view = consensus_view(store, study.id)
    return StudyDiagnostics(consensus=view["pairs"], weights=view["weights"],
                            not_interactions=view["not_interactions"], misses=view["misses"],
                            options=option_comparisons(store, study), importance=parameter_importances(store, study))


def chosen_trial(store: Store, study: StudyRow, model: str | None = None, trial: int | None = None) -> int:
    """The trial a diagnostics view is about: ``trial``, or the best trial of ``model``."""
    if trial is not None:
        return trial
    best = {name: number for name, (number, _) in store.best_trials(study.id).items()}
    if model not in best:
        known = ", ".join(sorted(best)) or "none yet"
        raise NotFoundError(f"study {study.name!r} has no completed trial of model {model!r}; "
                            f"its models with a best trial: {known}")
    return best[model]


def trial_view(store: Store, study: StudyRow, home: Path, trial_number: int, again: bool = False,
               progress: Progress = silent) -> TrialDiagnostics:
    """One trial's diagnostics (``automl.diagnostics.stored.trial_diagnostics``: kept, or computed
    when there are none or ``again``), with the study's data loaded only when they must be computed;
    ``progress`` is told each of the ``TRIAL_STEPS`` steps of a computation as it begins.
    DiagnosticsFailed when the kept ones are a failed computation's."""
    found = None if again else kept(store, study, trial_number)
    if found is not None:
        return found
    progress("loading the study's data")
    config = StudyConfig.from_json(study.config_json)
    data = study_data(store, study, config, home, pick_device(config.device))
    return trial_diagnostics(store, study, data, trial_number, again=again, progress=progress)
