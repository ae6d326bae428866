"""Diagnostics kept in the database: computed for each model's best trial when a study's trials are
done (``automl.search.worker.diagnose_bests``) and on demand for any completed trial, from its
stored weights or, without them, by fitting its configuration again with its own seed (the trial
number) for its best epoch count, which reproduces the trial on the same device."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load as load_safetensors

from automl.diagnostics.agnostic import DEFAULT_SETTINGS, Settings
from automl.diagnostics.trial import diagnose
from automl.errors import NotFoundError, SettingsError
from automl.features.encode import EncodedData
from automl.training.fit import train_and_evaluate
from models import REGISTRY
from models.card import ModelCard
from models.spec import DataSpec
from storage import Store
from storage.tables import ArtifactRow, StudyRow, TrialResultRow


def store_diagnostics(store: Store, study: StudyRow, trial_number: int, model_name: str, model,
                      data: EncodedData, settings: Settings = DEFAULT_SETTINGS) -> dict:
    """Compute ``model``'s diagnostics, keep them for ``trial_number``; -> the result."""
    result = {"trial": trial_number, "model": model_name, **diagnose(model, data, settings)}
    store.save_diagnostics(study.id, trial_number, model_name, json.dumps(result))
    return result


def trial_diagnostics(store: Store, study: StudyRow, data: EncodedData, trial_number: int,
                      settings: Settings = DEFAULT_SETTINGS, again: bool = False) -> dict:
    """The stored diagnostics of a completed trial (a failed computation's ``{"error"}`` too),
    computed first if there are none, or computed anew when ``again``."""
    stored = store.diagnostics(study.id, trial_number)
    if stored and not again:
        return json.loads(stored[0].result_json)
    row = next((r for r in store.results(study.id) if r.trial_number == trial_number), None)
    if row is None:
        raise NotFoundError(f"study {study.name!r} has no trial {trial_number}; "
                            "`crossboard leaderboard STUDY` lists its trials")
    if row.state != "COMPLETE":
        raise SettingsError(f"trial {trial_number} is {row.state}, not COMPLETE: only completed trials have "
                            "diagnostics; pick one from the leaderboard")
    return store_diagnostics(store, study, trial_number, row.model, fitted_model(store, study, data, row), data,
                             settings)


def fitted_model(store: Store, study: StudyRow, data: EncodedData, row: TrialResultRow):
    """The trial's model at its best epoch: its stored weights, else a refit with its seed."""
    card, params = REGISTRY[row.model], json.loads(row.params_json)
    artifact = next((a for a in store.artifacts(study.id)
                     if a.trial_number == row.trial_number and a.weights_format in LOADABLE), None)
    if artifact is not None:
        return loaded_model(card, params, data.spec, artifact, data.device)
    epochs = max(row.best_epoch or 1, 1)
    return train_and_evaluate(card, params, data, metric=study.metric, max_epochs=epochs, patience=epochs + 1,
                              seed=row.trial_number).model


LOADABLE = ("safetensors", "lightgbm")


def loaded_model(card: ModelCard, params: dict, spec: DataSpec, artifact: ArtifactRow, device: torch.device):
    """The model of a stored artifact: torch weights (safetensors) on ``device``, or LightGBM trees."""
    if artifact.weights_format == "lightgbm":
        return card.build(spec, params).load_state(artifact.weights)
    model = card.build(spec, params).to(device)
    model.load_state_dict({k: v.to(device) for k, v in load_safetensors(artifact.weights).items()})
    return model
