"""Option importances read Optuna's trials as they are stored, an out-of-range enqueued default included."""

from __future__ import annotations

import datetime

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution

from automl.reporting.diagnostics import in_range


def test_an_enqueued_default_outside_its_range_is_left_out_not_raised():
    """Wide & Deep's default n_crosses=3 enqueued on data with no pair to cross: Optuna keeps the value beside
    the range [0, 0]; the importances leave that option out of that trial and keep the others."""
    now = datetime.datetime.now()
    trial = optuna.trial.FrozenTrial(
        number=0, state=optuna.trial.TrialState.COMPLETE, value=0.9, datetime_start=now, datetime_complete=now,
        params={"model": "wide_deep", "wide_deep.n_crosses": 3, "wide_deep.hidden": "64"},
        distributions={"model": CategoricalDistribution(["wide_deep"]), "wide_deep.n_crosses": IntDistribution(0, 0),
                       "wide_deep.hidden": CategoricalDistribution(["64", "128"])},
        user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=0)
    kept = in_range(trial)
    assert kept["params"] == {"wide_deep.hidden": "64"} and set(kept["distributions"]) == {"wide_deep.hidden"}
    optuna.trial.create_trial(value=0.9, **kept)          # what parameter_importances builds: valid
