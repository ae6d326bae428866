"""The Optuna objective: one trial = one model with one configuration, trained and scored,
its result and (when it is the model's best) its weights written to the database."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict

import optuna
import torch
from safetensors.torch import save as save_safetensors

from automl.diagnostics.stored import store_diagnostics
from automl.features.encode import EncodedData
from automl.search import ensembles
from automl.search.allocation import MODEL_PARAM, Allocator, trial_time_cap_s
from automl.training.fit import train_and_evaluate
from automl.training.loop import STOP, TrainingDiverged, TrialOutcome
from models import REGISTRY
from models.card import ModelKind, ScopedTrial
from models.common import task_space
from models.spec import spec_to_dict
from storage import Store
from storage.tables import ArtifactRow, StudyRow, TrialResultRow

FAILURE_ATTR = "failure_reason"


class ModelUnavailable(Exception):
    """The encoded data lacks an input the model needs (e.g. no item history could be built)."""


# Failures that end one trial (recorded with their reason), never the worker.
TRIAL_FAILURES = (TrainingDiverged, ModelUnavailable, torch.OutOfMemoryError)


def failure_reason(error: BaseException) -> str:
    if isinstance(error, torch.OutOfMemoryError):
        return "out of device memory; try a smaller batch size, embedding size or hidden layers"
    return str(error)


class Objective:
    """``deadline``: the study's time limit (``time.time()`` seconds) or None; a trial running when
    it comes stops after its epoch and keeps its best epoch so far."""

    def __init__(self, store: Store, study: StudyRow, config, data: EncodedData, worker_id: int,
                 allocator: Allocator, deadline: float | None = None):
        self.store, self.study, self.config, self.allocator = store, study, config, allocator
        self.data, self.spec, self.worker_id, self.deadline = data, data.spec, worker_id, deadline

    def __call__(self, trial: optuna.Trial) -> float:
        name = trial.suggest_categorical(MODEL_PARAM, self.config.models)
        self.allocator.model_for(trial.number, fixed=name)       # enqueued trials count in the plan too
        card = REGISTRY[name]
        scoped = ScopedTrial(trial, name)
        params = card.search_space(scoped, self.spec)
        if card.kind is ModelKind.TORCH:
            params.update(task_space(scoped, self.spec))
        self.store.update_worker(self.worker_id, status="running", trial_number=trial.number, model=name, epoch=0)

        def reporter(epoch: int, value: float, val: dict) -> bool:
            if not math.isnan(value):
                trial.report(value, epoch)
            self.store.update_worker(self.worker_id, epoch=epoch)
            if trial.should_prune():
                return True
            return STOP if self.deadline is not None and time.time() >= self.deadline else False

        try:
            missing = card.unavailable_reason(self.spec.task, self.spec.available())
            if missing:
                raise ModelUnavailable(missing)
            outcome = train_and_evaluate(card, params, self.data, metric=self.study.metric,
                                         max_epochs=self.config.max_epochs, patience=self.config.patience,
                                         reporter=reporter, time_cap_s=trial_time_cap_s(self.config),
                                         seed=trial.number)
        except TRIAL_FAILURES as error:
            reason = failure_reason(error)
            trial.set_user_attr(FAILURE_ATTR, reason)
            self._save(trial, name, params, "FAIL", reason=reason)
            raise
        value = outcome.val.get(self.study.metric, float("nan"))
        state = "PRUNED" if outcome.pruned else "COMPLETE"
        reason = ""
        if math.isnan(value):
            state, reason = "FAIL", (f"the validation {self.study.metric} is undefined (the validation rows may "
                                     "hold a single class); upload more rows")
            trial.set_user_attr(FAILURE_ATTR, reason)
        for key, metric_value in outcome.test.items():
            trial.set_user_attr(f"test_{key}", metric_value)
        trial.set_user_attr("n_params", outcome.n_params)
        self._save(trial, name, params, state, outcome=outcome, reason=reason)
        if state == "COMPLETE" and self._keep_if_best(trial.number, name, params, value, outcome):
            ensembles.refresh(self.store, self.study, self.data)
            self._diagnose(trial.number, name, outcome)
        if outcome.pruned:
            raise optuna.TrialPruned(f"pruned at epoch {outcome.epochs}")
        return value

    def _save(self, trial, model: str, params: dict, state: str, outcome: TrialOutcome | None = None,
              reason: str = "") -> None:
        row = TrialResultRow(study_id=self.study.id, trial_number=trial.number, model=model, state=state,
                             params_json=json.dumps(params), reason=reason, worker_id=self.worker_id)
        if outcome is not None:
            row.val_json, row.test_json = json.dumps(outcome.val), json.dumps(outcome.test)
            row.extra_json = json.dumps({"history": outcome.history, "notes": outcome.notes,
                                         "calibration": asdict(outcome.calibration) if outcome.calibration else None})
            row.best_epoch, row.epochs, row.train_seconds = outcome.best_epoch, outcome.epochs, outcome.train_seconds
            row.n_params, row.device = outcome.n_params, outcome.device
            row.latency_ms_per_1k = None if math.isnan(outcome.latency_ms_per_1k) else outcome.latency_ms_per_1k
        self.store.save_result(row)

    def _diagnose(self, number: int, model: str, outcome: TrialOutcome) -> None:
        """The new best trial's diagnostics while its model is in memory; a fault in them is kept
        as the trial's diagnostics error and costs neither the trial nor the worker."""
        if outcome.model is None:
            return
        try:
            store_diagnostics(self.store, self.study, number, model, outcome.model, self.data)
        except Exception as error:   # noqa: BLE001 - any fault of the diagnostics is reported, not raised
            self.store.save_diagnostics(self.study.id, number, model, json.dumps(
                {"trial": number, "model": model, "error": f"{type(error).__name__}: {error}"}))

    def _keep_if_best(self, number: int, model: str, params: dict, value: float, outcome: TrialOutcome) -> bool:
        """Store the trial's weights (and outputs, for ensembles) if it is the model's best so far;
        -> whether it was. Tree ensembles keep their outputs only: their fitted state is not stored
        (never pickle)."""
        outputs = (ensembles.encode_outputs(outcome.outputs)
                   if ensembles.keeps_outputs(self.spec.task, outcome.outputs) else None)
        if not outcome.state_dict and outputs is None:
            return False
        weights = save_safetensors(outcome.state_dict) if outcome.state_dict else b""
        config = {"model": model, "params": params, "trial": number, "metric": self.study.metric,
                  "value": value, "spec": spec_to_dict(self.spec),
                  "calibration": asdict(outcome.calibration) if outcome.calibration else None}
        row = ArtifactRow(study_id=self.study.id, model=model, trial_number=number, value=value,
                          config_json=json.dumps(config), weights=weights, sha256=hashlib.sha256(weights).hexdigest(),
                          weights_format="safetensors" if outcome.state_dict else "none")
        return self.store.save_if_best(row, maximize=self.study.direction == "maximize", outputs=outputs)
