"""The Optuna objective: one trial = one model with one configuration, trained and scored,
its result and (when it is the model's best) its weights written to the database. That write is
the trial's end: Optuna is told after it, and the ensemble rebuilt after that (``after_trial``).
A worker may die in between; CrossBoard's row is then the truth (``recorded_outcome``), which the
settling of its trial tells Optuna and which a retry of that trial takes instead of running."""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
import traceback

import optuna
import torch
from optuna.trial import FrozenTrial

from automl.errors import CrossBoardError, space_for
from automl.features.encode import EncodedData
from automl.search import ensembles, verdicts
from automl.search.allocation import MODEL_PARAM, Allocator, trial_time_cap_s
from automl.training.artifacts import calibration_dict, stored_weights
from automl.training.device import bf16_available, release_memory
from automl.training.fit import train_and_evaluate
from automl.training.loop import PRECISIONS, TrainingDiverged, TrialOutcome, Verdict
from models import REGISTRY
from models.card import ModelKind, ScopedTrial
from models.common import task_space
from models.spec import spec_to_dict
from storage import Store
from storage.db import database_place
from storage.tables import ArtifactRow, StudyRow, TrialResultRow, TrialState, WorkerPhase, WorkerStatus

FAILURE_ATTR = "failure_reason"
RESULT_OF_ATTR = "result_of_trial"      # a retry's: the trial whose recorded result it took instead of running


MAX_FAILURES_IN_A_ROW = 10     # a worker whose last this many trials all failed stops


class ModelUnavailable(Exception):
    """The encoded data lacks an input the model needs (e.g. no item history could be built)."""


class TrialFailed(Exception):
    """An unexpected error inside one trial (a fault of one sampled configuration): it fails that
    trial, its reason in the results and its traceback in the worker's log; the worker goes on."""


class TooManyFailures(CrossBoardError):
    """The worker's last ``MAX_FAILURES_IN_A_ROW`` trials all failed: it stops and says why."""


# Failures that end one trial (recorded with their reason), never the worker.
TRIAL_FAILURES = (TrainingDiverged, ModelUnavailable, torch.OutOfMemoryError, TrialFailed)


def failure_reason(error: BaseException) -> str:
    if isinstance(error, torch.OutOfMemoryError):
        return "out of device memory; try a smaller batch size, embedding size or hidden layers"
    return str(error)


def recorded_outcome(row: TrialResultRow, metric: str) -> tuple[optuna.trial.TrialState, float | None]:
    """What Optuna is told of a trial with a recorded result: (its state, its validation ``metric``
    when it completed, else None)."""
    if row.state == TrialState.COMPLETE:
        return optuna.trial.TrialState.COMPLETE, json.loads(row.val_json)[metric]
    return optuna.trial.TrialState[row.state], None


def recorded_result(store: Store, study_id: int, numbers: list[int]) -> TrialResultRow | None:
    """The first recorded result among the trials ``numbers`` (a trial and those it runs again)."""
    return next((row for n in numbers if (row := store.result(study_id, n)) is not None), None)


def retried_trials(trial: optuna.Trial) -> list[int]:
    """The trials that ``trial`` runs again (Optuna queues a copy of a trial whose worker was lost,
    and of its copies), oldest first; [] for a trial of its own."""
    (frozen,) = (t for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                 if t.number == trial.number)
    return list(frozen.system_attrs.get("retry_history", []))


class Objective:
    """``deadline``: the study's time limit (``time.time()`` seconds) or None; a trial running when
    it comes stops after its epoch and keeps its best epoch so far."""

    def __init__(self, store: Store, study: StudyRow, config, data: EncodedData, worker_id: int,
                 allocator: Allocator, deadline: float | None = None):
        self.store, self.study, self.config, self.allocator = store, study, config, allocator
        self.data, self.spec, self.worker_id, self.deadline = data, data.spec, worker_id, deadline
        self.failures_in_a_row = 0
        self.new_best: int | None = None      # the last trial whose outputs became its model's best

    def __call__(self, trial: optuna.Trial) -> float:
        retried = retried_trials(trial)
        recorded = recorded_result(self.store, self.study.id, retried)
        if recorded is not None:
            return self._take(trial, recorded)
        name = trial.suggest_categorical(MODEL_PARAM, self.config.models)
        self.allocator.model_for(trial.number, fixed=name, replaces=retried)   # enqueued trials count in the plan too
        card = REGISTRY[name]
        scoped = ScopedTrial(trial, name)
        params = card.search_space(scoped, self.spec)
        if card.kind is ModelKind.TORCH:
            params.update(task_space(scoped, self.spec))
            if bf16_available(self.data.device):
                params["precision"] = scoped.categorical("precision", list(PRECISIONS))
        self.store.update_worker(self.worker_id, status=WorkerStatus.RUNNING, phase=WorkerPhase.TRIAL,
                                 trial_number=trial.number, model=name, epoch=0)

        def reporter(epoch: int, value: float, val: dict) -> Verdict:
            if not math.isnan(value):
                trial.report(value, epoch)
            self.store.update_worker(self.worker_id, epoch=epoch)
            if trial.should_prune():
                return Verdict.PRUNE
            return Verdict.STOP if self.deadline is not None and time.time() >= self.deadline else Verdict.GO_ON

        try:
            missing = card.unavailable_reason(self.spec.task, self.spec.available())
            if missing:
                raise ModelUnavailable(missing)
            outcome = train_and_evaluate(card, params, self.data, metric=self.study.metric,
                                         max_epochs=self.config.max_epochs, patience=self.config.patience,
                                         reporter=reporter, time_cap_s=trial_time_cap_s(self.config),
                                         seed=trial.number)
        except TRIAL_FAILURES as error:
            if isinstance(error, torch.OutOfMemoryError):
                release_memory(self.data.device, error)
            self._fail(trial, name, params, failure_reason(error))
            raise
        except Exception as error:
            print(f"trial {trial.number} ({name}) failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            self._fail(trial, name, params, f"{type(error).__name__}: {error}")
            raise TrialFailed(f"{type(error).__name__}: {error}") from error
        value = outcome.val.get(self.study.metric, float("nan"))
        state = TrialState.PRUNED if outcome.pruned else TrialState.COMPLETE
        reason = ""
        if math.isnan(value):
            state, reason = TrialState.FAIL, (f"the validation {self.study.metric} is undefined (the validation rows may "
                                     "hold a single class); upload more rows")
            trial.set_user_attr(FAILURE_ATTR, reason)
        for key, metric_value in outcome.test.items():
            trial.set_user_attr(f"test_{key}", metric_value)
        trial.set_user_attr("n_params", outcome.n_params)
        result = self._result_row(trial, name, params, state, outcome=outcome, reason=reason)
        if state is TrialState.COMPLETE:
            best, outputs = self._best_candidate(trial.number, name, params, value, outcome)
            needed = len(best.weights if best else b"") + len(outputs or b"") + len(result.extra_json)
            with space_for(f"recording trial {trial.number}", database_place(self.store.url), needed):
                if self.store.finish_trial(result, best, maximize=self.study.direction == "maximize",
                                           outputs=outputs):
                    self.new_best = trial.number
        else:
            self.store.save_result(result)
        self._count(state is TrialState.FAIL, reason)
        if outcome.pruned:
            raise optuna.TrialPruned(f"pruned at epoch {outcome.epochs}")
        return value

    def _fail(self, trial, model: str, params: dict, reason: str) -> None:
        trial.set_user_attr(FAILURE_ATTR, reason)
        self.store.save_result(self._result_row(trial, model, params, TrialState.FAIL, reason=reason))
        self._count(True, reason)

    def _count(self, failed: bool, reason: str) -> None:
        """Count failed trials in a row; raise TooManyFailures at ``MAX_FAILURES_IN_A_ROW``."""
        self.failures_in_a_row = self.failures_in_a_row + 1 if failed else 0
        if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise TooManyFailures(f"this worker's last {self.failures_in_a_row} trials all failed, the last with: "
                                  f"{reason}. It stopped; see the reasons on the leaderboard and the worker's log "
                                  "(in the data directory's logs/), fix the cause and launch the study's workers again")

    def _take(self, trial: optuna.Trial, recorded: TrialResultRow) -> float:
        """End ``trial``, a retry of a trial that had recorded its result before its worker died,
        with that result instead of running it again (no result row of its own)."""
        trial.set_user_attr(RESULT_OF_ATTR, recorded.trial_number)
        state, value = recorded_outcome(recorded, self.study.metric)
        if state == optuna.trial.TrialState.PRUNED:
            raise optuna.TrialPruned(f"trial {recorded.trial_number} was pruned")
        if state == optuna.trial.TrialState.FAIL:
            trial.set_user_attr(FAILURE_ATTR, recorded.reason)
            raise TrialFailed(recorded.reason)
        return value

    def after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback, once the trial is told: rebuild the ensemble if its outputs became its
        model's best, so the ensemble never counts a trial that Optuna does not know as ended."""
        if self.new_best == trial.number:
            self.new_best = None
            verdicts.rebuild(self.store, self.study, self.data, f"trial {trial.number}")

    def _result_row(self, trial, model: str, params: dict, state: TrialState, outcome: TrialOutcome | None = None,
                    reason: str = "") -> TrialResultRow:
        row = TrialResultRow(study_id=self.study.id, trial_number=trial.number, model=model, state=state,
                             params_json=json.dumps(params), reason=reason, worker_id=self.worker_id)
        if outcome is not None:
            row.val_json, row.test_json = json.dumps(outcome.val), json.dumps(outcome.test)
            row.extra_json = json.dumps({"history": outcome.history, "notes": outcome.notes,
                                         "calibration": calibration_dict(outcome.calibration)})
            row.best_epoch, row.epochs, row.train_seconds = outcome.best_epoch, outcome.epochs, outcome.train_seconds
            row.n_params, row.device = outcome.n_params, outcome.device
            row.latency_ms_per_1k = None if math.isnan(outcome.latency_ms_per_1k) else outcome.latency_ms_per_1k
        return row

    def _best_candidate(self, number: int, model: str, params: dict, value: float,
                        outcome: TrialOutcome) -> tuple[ArtifactRow | None, bytes | None]:
        """(the artifact row of the trial's weights, its encoded outputs for ensembles), kept by
        ``Store.finish_trial`` if the trial is the model's best so far; (None, None) when there is
        nothing to keep. Weights: safetensors for torch models, LightGBM's text format for trees
        (never pickle)."""
        outputs = (ensembles.encode_outputs(outcome.outputs)
                   if ensembles.keeps_outputs(self.spec.task, outcome.outputs) else None)
        weights, weights_format = stored_weights(REGISTRY[model], outcome)
        if not weights and outputs is None:
            return None, None
        config = {"model": model, "params": params, "trial": number, "metric": self.study.metric,
                  "value": value, "spec": spec_to_dict(self.spec),
                  "calibration": calibration_dict(outcome.calibration)}
        row = ArtifactRow(study_id=self.study.id, model=model, trial_number=number, value=value,
                          config_json=json.dumps(config), weights=weights, sha256=hashlib.sha256(weights).hexdigest(),
                          weights_format=weights_format)
        return row, outputs

