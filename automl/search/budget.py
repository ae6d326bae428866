"""A study's budget: the trials recorded toward ``--trials``, and the time left of ``--minutes``."""

from __future__ import annotations

import optuna

from automl.search.config import StudyConfig
from storage import Store
from storage.store import age_seconds
from storage.tables import StudyRow


def spent(store: Store, study: StudyRow, config: StudyConfig) -> bool:
    """Whether the study's budget is used up: ``--trials`` trials recorded, or ``--minutes`` past
    since it started. Recorded trials are CrossBoard's rows (completed, pruned, or failed with a
    reason): the truth even when a worker died before telling Optuna; a trial whose worker was lost
    before recording it is queued again instead, so it does not count."""
    if config.n_trials is not None and store.result_count(study.id) >= config.n_trials:
        return True
    left = seconds_left(study, config)
    return left is not None and left <= 0


class Budget:
    """Optuna callback: stop this worker when the study's budget is spent or a stop was asked."""

    def __init__(self, store: Store, study_id: int, config: StudyConfig):
        self.store, self.study_id, self.config = store, study_id, config

    def exhausted(self) -> bool:
        study = self.store.find_study(self.study_id)
        return study.stop_requested or spent(self.store, study, self.config)

    def __call__(self, study: optuna.Study, trial) -> None:
        if self.exhausted():
            study.stop()


def seconds_left(study: StudyRow, config: StudyConfig) -> float | None:
    if config.minutes is None:
        return None
    return config.minutes * 60 - (age_seconds(study.started_at) or 0.0)
