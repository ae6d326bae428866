"""Fitted models kept in the database and taken back out: the one place that knows their formats.

A trial's fitted model is stored as bytes beside its configuration (``storage.tables.ArtifactRow``):
torch weights in safetensors (never pickle), GBDT trees in LightGBM's text model format, nothing
for a baseline fitted in an instant. Its Platt calibration travels as a plain dict
(``{"scale", "shift"}``) in the artifact's config and in the trial's ``extra_json``."""

from __future__ import annotations

import json
from dataclasses import asdict

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from automl.evaluation.calibration import Platt
from automl.features.encode import EncodedData
from automl.training.fit import train_and_evaluate
from automl.training.loop import TrialOutcome
from models import REGISTRY
from models.card import ModelCard, ModelKind
from models.spec import DataSpec
from storage import Store
from storage.tables import ArtifactRow, StudyRow, TrialResultRow

LOADABLE = ("safetensors", "lightgbm")      # the formats a model can be rebuilt from ("none" cannot)


def stored_weights(card: ModelCard, outcome: TrialOutcome) -> tuple[bytes, str]:
    """(the fitted model's bytes, their format): "safetensors" (torch), "lightgbm" (trees, the text
    model format) or "none" (b"": a baseline fitted in an instant)."""
    if outcome.state_dict:
        return save_safetensors(outcome.state_dict), "safetensors"
    if card.kind is ModelKind.TREES and outcome.model is not None:
        return outcome.model.state(), "lightgbm"
    return b"", "none"


def loaded_model(card: ModelCard, params: dict, spec: DataSpec, artifact: ArtifactRow, device: torch.device):
    """The model of a stored artifact: torch weights (safetensors) on ``device``, or LightGBM trees."""
    if artifact.weights_format == "lightgbm":
        return card.build(spec, params).load_state(artifact.weights)
    model = card.build(spec, params).to(device)
    model.load_state_dict({k: v.to(device) for k, v in load_safetensors(artifact.weights).items()})
    return model


def fitted_model(store: Store, study: StudyRow, data: EncodedData, row: TrialResultRow):
    """The trial's model at its best epoch: its stored weights, else a refit with its own seed (the
    trial number) for its best epoch count, which reproduces the trial on the same device."""
    card, params = REGISTRY[row.model], json.loads(row.params_json)
    artifact = next((a for a in store.artifacts(study.id)
                     if a.trial_number == row.trial_number and a.weights_format in LOADABLE), None)
    if artifact is not None:
        return loaded_model(card, params, data.spec, artifact, data.device)
    epochs = max(row.best_epoch or 1, 1)
    return train_and_evaluate(card, params, data, metric=study.metric, max_epochs=epochs, patience=epochs + 1,
                              seed=row.trial_number).model


def calibration_dict(calibration: Platt | None) -> dict | None:
    """A calibration as stored (``{"scale", "shift"}``), None without one."""
    return asdict(calibration) if calibration else None


def stored_calibration(stored: dict) -> Platt | None:
    """The calibration kept under ``"calibration"`` in an artifact's config or a trial's extra
    dict, None without one."""
    found = stored.get("calibration")
    return Platt(**found) if found else None
