"""A study's budget: how many trials count toward ``--trials``, and the time left of ``--minutes``."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from automl.search.config import StudyConfig
from automl.search.objective import FAILURE_ATTR
from storage import Store
from storage.store import age_seconds
from storage.tables import StudyRow


def counted(trial) -> bool:
    """Trials that use up the budget: finished ones, and failures with a recorded reason
    (a trial failed by a lost heartbeat is re-queued instead, so it does not count)."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and FAILURE_ATTR in trial.user_attrs)


class Budget:
    """Optuna callback: stop this worker when the trial budget is spent or a stop was asked."""

    def __init__(self, store: Store, study_id: int, n_trials: int | None):
        self.store, self.study_id, self.n_trials = store, study_id, n_trials

    def exhausted(self, study: optuna.Study) -> bool:
        if self.store.find_study(self.study_id).stop_requested:
            return True
        if self.n_trials is None:
            return False
        return sum(counted(t) for t in study.get_trials(deepcopy=False)) >= self.n_trials

    def __call__(self, study: optuna.Study, trial) -> None:
        if self.exhausted(study):
            study.stop()


def seconds_left(study: StudyRow, config: StudyConfig) -> float | None:
    if config.minutes is None:
        return None
    return config.minutes * 60 - (age_seconds(study.started_at) or 0.0)
