"""The spread over seeds: the best trial of each model still in contention, trained again with other
seeds, so the verdict compares them over seeds and not one lucky run (a model clearly behind gets
no more budget).

Reruns never enter Optuna or the ranking of trials (a lucky rerun cannot change a study's best);
they are rows of ``cb_seed_runs`` (with their test outputs, which the verdict averages over seeds), claimed under the study's lock so that several workers share
the work. The original trial ran with seed = its trial number; rerun j runs with
``SEED_STRIDE * j + trial number``.
"""

from __future__ import annotations

import json

from automl.evaluation.comparison import GROUP, LEADER
from automl.features.encode import EncodedData
from automl.search import ensembles, verdicts
from automl.search.allocation import best_trials, trial_time_cap_s
from automl.search.budget import Halt
from automl.search.config import StudyConfig
from automl.search.objective import TRIAL_FAILURES, failure_reason
from automl.training.fit import train_and_evaluate
from models import REGISTRY
from storage import Store
from storage.tables import StudyRow, TrialResultRow

SEED_STRIDE = 1_000_003
RERUN_MARGIN = 1.25         # a rerun starts when this many times its trial's training time is left


def rerun_seeds(trial_number: int, extra: int) -> list[int]:
    return [SEED_STRIDE * j + trial_number for j in range(1, extra + 1)]


def contenders(store: Store, study: StudyRow, top: int | None) -> list[TrialResultRow]:
    """The best trials worth more seeds: those of the ``top`` best models when given, else of every model
    still in contention in the study's verdict (the leader and the models not told apart from it; the
    top ``StudyConfig.top_models`` while the study has no verdict yet)."""
    rows = best_trials(store, study)
    verdict = verdicts.stored(store, study.id)
    if top is not None or verdict is None:
        return rows[:top or StudyConfig.top_models]
    open_question = {s.model for s in verdict.standings if s.standing in (LEADER, GROUP)}
    return [row for row in rows if row.model in open_question]


def fits(row: TrialResultRow, halt: Halt | None) -> bool:
    """Whether a rerun of ``row`` may start: no stop asked, and its trial's training time (with a quarter
    more) fits in the seconds the phase has left."""
    if halt is None:
        return True
    left = halt.seconds_left()
    return not halt() and (left is None or left >= RERUN_MARGIN * (row.train_seconds or 0.0))


def run_reseeds(store: Store, study: StudyRow, config: StudyConfig, data: EncodedData, extra: int,
                top: int | None = None, halt: Halt | None = None) -> int:
    """Run every unclaimed rerun of the ``contenders``' best trials that ``fits`` the phase's time (a
    rerun cut by the clock would say where the clock stopped it); -> how many this call ran."""
    ran = 0
    for row in contenders(store, study, top):
        card, params = REGISTRY[row.model], json.loads(row.params_json)
        while fits(row, halt) and (seed := store.claim_seed_run(study.id, row.model, row.trial_number,
                                                                rerun_seeds(row.trial_number, extra))) is not None:
            try:
                outcome = train_and_evaluate(card, params, data, metric=study.metric, max_epochs=config.max_epochs,
                                             patience=config.patience, time_cap_s=trial_time_cap_s(config),
                                             seed=seed)
            except TRIAL_FAILURES as error:
                store.finish_seed_run(study.id, row.trial_number, seed, state="failed", reason=failure_reason(error))
            else:
                kept = ensembles.keeps_outputs(data.spec.task, outcome.outputs)
                store.finish_seed_run(study.id, row.trial_number, seed, state="done",
                                      val_json=json.dumps(outcome.val), test_json=json.dumps(outcome.test),
                                      outputs=ensembles.encode_outputs(outcome.outputs) if kept else None)
            ran += 1
    return ran
