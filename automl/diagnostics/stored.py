"""Diagnostics kept in the database: computed for each model's best trial when a study's trials are
done (``automl.search.worker.diagnose_bests``) and on demand for any completed trial, on its fitted
model (``automl.training.artifacts.fitted_model``: the stored weights, else a refit)."""

from __future__ import annotations

import json
from collections.abc import Callable

from automl.diagnostics.agnostic import DEFAULT_SETTINGS, Settings
from automl.diagnostics.results import DiagnosticsFailure, TrialDiagnostics, kept_diagnostics
from automl.diagnostics.trial import diagnose
from automl.errors import NotFoundError, SettingsError
from automl.features.encode import EncodedData
from automl.training.artifacts import LOADABLE, fitted_model
from storage import Store
from storage.tables import StudyRow, TrialState

Progress = Callable[[str], None]       # told each step of a computation, in words, as it begins


def silent(step: str) -> None:
    """A ``Progress`` that shows nothing."""


def store_diagnostics(store: Store, study: StudyRow, trial_number: int, model_name: str, model,
                      data: EncodedData, settings: Settings = DEFAULT_SETTINGS) -> TrialDiagnostics:
    """Compute ``model``'s diagnostics, keep them for ``trial_number``; -> the result."""
    result = TrialDiagnostics(trial=trial_number, model=model_name, **diagnose(model, data, settings))
    store.save_diagnostics(study.id, trial_number, model_name, json.dumps(result))
    return result


def store_failure(store: Store, study: StudyRow, trial_number: int, model_name: str, error: Exception) -> None:
    """Keep the reason a trial's diagnostics could not be computed, as its diagnostics."""
    failure = DiagnosticsFailure(trial=trial_number, model=model_name, error=f"{type(error).__name__}: {error}")
    store.save_diagnostics(study.id, trial_number, model_name, json.dumps(failure))


def kept_json(store: Store, study_id: int, trial_number: int) -> TrialDiagnostics | DiagnosticsFailure | None:
    """The trial's diagnostics as kept (a failure's error included), None without any."""
    stored = store.diagnostics(study_id, trial_number)
    return json.loads(stored[0].result_json) if stored else None


def kept(store: Store, study: StudyRow, trial_number: int) -> TrialDiagnostics | None:
    """The trial's kept diagnostics, None without any; DiagnosticsFailed when they are a failure's."""
    stored = kept_json(store, study.id, trial_number)
    return kept_diagnostics(stored) if stored else None


def trial_diagnostics(store: Store, study: StudyRow, data: EncodedData, trial_number: int,
                      settings: Settings = DEFAULT_SETTINGS, again: bool = False,
                      progress: Progress = silent) -> TrialDiagnostics:
    """The kept diagnostics of a completed trial (DiagnosticsFailed for a failed computation's),
    computed first if there are none, or computed anew when ``again``; ``progress`` is told the two steps
    of a computation (the trial's model, then the scoring)."""
    found = None if again else kept(store, study, trial_number)
    if found is not None:
        return found
    row = next((r for r in store.results(study.id) if r.trial_number == trial_number), None)
    if row is None:
        raise NotFoundError(f"study {study.name!r} has no trial {trial_number}; "
                            "`crossboard leaderboard STUDY` lists its trials")
    if row.state != TrialState.COMPLETE:
        raise SettingsError(f"trial {trial_number} is {row.state}, not COMPLETE: only completed trials have "
                            "diagnostics; pick one from the leaderboard")
    best, weights_format = store.best_trials(study.id).get(row.model, (None, ""))
    kept_weights = best == trial_number and weights_format in LOADABLE
    progress(f"loading trial {trial_number}'s stored weights" if kept_weights else
             f"fitting trial {trial_number} again with its seed for its {row.best_epoch or 1} epoch(s): only each "
             "model's best trial keeps its weights")
    model = fitted_model(store, study, data, row)
    progress("scoring the validation rows with fields, and pairs of fields, replaced")
    return store_diagnostics(store, study, trial_number, row.model, model, data, settings)

