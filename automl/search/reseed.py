"""The spread over seeds: the best trial of each of the study's top models, trained again with
other seeds, so the leaderboard can say which models are tied with the leader.

Reruns never enter Optuna or the ranking of trials (a lucky rerun cannot change a study's best);
they are rows of ``cb_seed_runs``, claimed under the study's lock so that several workers share
the work. The original trial ran with seed = its trial number; rerun j runs with
``SEED_STRIDE * j + trial number``.
"""

from __future__ import annotations

import json

from automl.features.encode import EncodedData
from automl.search.allocation import best_trials, trial_time_cap_s
from automl.search.config import StudyConfig
from automl.search.objective import TRIAL_FAILURES, failure_reason
from automl.training.fit import train_and_evaluate
from models import REGISTRY
from storage import Store
from storage.tables import StudyRow

SEED_STRIDE = 1_000_003


def rerun_seeds(trial_number: int, extra: int) -> list[int]:
    return [SEED_STRIDE * j + trial_number for j in range(1, extra + 1)]


def run_reseeds(store: Store, study: StudyRow, config: StudyConfig, data: EncodedData, extra: int,
                top: int) -> int:
    """Run every unclaimed rerun of the top models' best trials; -> how many this call ran."""
    ran = 0
    for row in best_trials(store, study, top):
        card, params = REGISTRY[row.model], json.loads(row.params_json)
        while (seed := store.claim_seed_run(study.id, row.model, row.trial_number,
                                            rerun_seeds(row.trial_number, extra))) is not None:
            try:
                outcome = train_and_evaluate(card, params, data, metric=study.metric, max_epochs=config.max_epochs,
                                             patience=config.patience, time_cap_s=trial_time_cap_s(config),
                                             seed=seed)
            except TRIAL_FAILURES as error:
                store.finish_seed_run(study.id, row.trial_number, seed, state="failed", reason=failure_reason(error))
            else:
                store.finish_seed_run(study.id, row.trial_number, seed, state="done",
                                      val_json=json.dumps(outcome.val), test_json=json.dumps(outcome.test))
            ran += 1
    return ran
