"""Which model the next trial gets: a fair budget for every model, then more for the contenders.

The scheme is successive halving over models (Jamieson & Talwalkar, 2016, applied to the model
choice rather than to epochs). Every chosen model first gets its paper default (enqueued when the
study is created), then trials until it has ``k`` (rung 0). When every model of a rung has been
given its quota, the better half of them by best validation value so far (a model without a
completed trial ranks last) moves on to the next rung, whose quota is ``eta`` times larger; the
others get no more trials. The last ``SURVIVORS`` models are never halved further: they keep
taking rungs in turn, so the leader always meets a challenger. The next trial goes to the surviving model with the fewest
trials so far (ties: the better best, then the study's model order). With fewer trials than
``k`` × models, every model gets ``trials // models`` or one more. Racing: once the study has a
verdict (``automl.search.verdicts``: the models compared on the shared test rows), a model clearly
behind the leader gets no trial past its current rung, and a model in the leader group is not halved
away; the Study page shows the dropped models.

The counts live in the database (``cb_allocations``, written under the study's lock) and the bests
are read from ``cb_trial_results``, so every worker on every machine follows the same plan.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from automl.data.schema import MAXIMIZE
from automl.evaluation.comparison import CLEARLY_BEHIND, GROUP, LEADER, Comparison
from automl.search.budget import phase_seconds
from automl.search.config import StudyConfig
from storage import Store
from storage.store import loads
from storage.tables import StudyRow, TrialResultRow, TrialState, WorkerPhase

MIN_TRIALS = 3      # k: trials every model gets before any is dropped
ETA = 2             # each rung keeps 1 / ETA of the models and gives them ETA times the trials
SURVIVORS = 2       # models that keep getting trials to the end of the budget
MODEL_PARAM = "model"   # the Optuna parameter that names a trial's model
CAP_SHARES = 2      # a trial may train for this many fair shares of the time budget


def trial_time_cap_s(config: StudyConfig) -> float | None:
    """Seconds one trial may train: ``trial_minutes`` when given; with a time budget, CAP_SHARES
    fair shares of the trials' part of it (``budget.phase_seconds`` × workers spread over MIN_TRIALS
    trials of every model), so that one slow configuration cannot eat the study; else no cap."""
    if config.trial_minutes is not None:
        return config.trial_minutes * 60
    seconds = phase_seconds(config, WorkerPhase.TRIAL)
    if seconds is None or not config.models:
        return None
    return CAP_SHARES * seconds * max(config.workers, 1) / (MIN_TRIALS * len(config.models))


@dataclass(frozen=True)
class Standing:
    """One model's place in the plan: ``given`` trials so far, ``quota`` its current rung's
    trial count (equal to ``given`` for a model that was dropped), ``best`` its best validation
    value (None before a completed trial)."""

    model: str
    given: int
    quota: int
    best: float | None
    dropped: bool


def ranking_key(best: float | None, maximize: bool) -> float:
    """Sort key, smaller is better; a model without a value ranks last."""
    if best is None or math.isnan(best):
        return math.inf
    return -best if maximize else best


def standings(models: list[str], given: dict[str, int], best: dict[str, float], maximize: bool,
              k: int = MIN_TRIALS, eta: int = ETA, verdict: dict[str, str] | None = None) -> list[Standing]:
    """Every model's standing in the successive-halving plan, in ``models`` order. ``verdict``: model ->
    its standing on the shared test rows (``automl.evaluation.comparison``), which races the halving: a
    model clearly behind the leader is dropped at the next rung whatever its rank, and one in the leader
    group is kept (it can still become the leader)."""
    verdict = verdict or {}
    alive, quota = list(models), k
    dropped: dict[str, int] = {}
    while all(given.get(m, 0) >= quota for m in alive):
        order = sorted(alive, key=lambda m: (ranking_key(best.get(m), maximize), models.index(m)))
        halved = order[:max(SURVIVORS, math.ceil(len(alive) / eta))]
        keep = [m for m in order if (m in halved or verdict.get(m) in (LEADER, GROUP))
                and verdict.get(m) != CLEARLY_BEHIND] or order[:1]
        dropped.update({m: quota for m in alive if m not in keep})
        alive, quota = keep, quota * eta
    return [Standing(m, given.get(m, 0), dropped.get(m, quota), best.get(m), m in dropped) for m in models]


def next_model(models: list[str], given: dict[str, int], best: dict[str, float], maximize: bool,
               k: int = MIN_TRIALS, eta: int = ETA, verdict: dict[str, str] | None = None) -> str:
    """The model the next trial goes to (see the module docstring)."""
    open_ = [s for s in standings(models, given, best, maximize, k, eta, verdict) if not s.dropped and s.given < s.quota]
    choice = min(open_, key=lambda s: (s.given, ranking_key(s.best, maximize), models.index(s.model)))
    return choice.model


def best_trials(store: Store, study: StudyRow, top: int | None = None) -> list[TrialResultRow]:
    """The best completed trial of each model by the study's validation metric, best model first
    (the ``top`` best only, when given)."""
    maximize = study.metric in MAXIMIZE
    best: dict[str, tuple[float, TrialResultRow]] = {}
    for row in store.results(study.id):
        value = loads(row.val_json).get(study.metric)
        if row.state != TrialState.COMPLETE or value is None or math.isnan(value):
            continue
        key = ranking_key(value, maximize)
        if row.model not in best or key < best[row.model][0]:
            best[row.model] = (key, row)
    return [row for _, row in sorted(best.values(), key=lambda pair: pair[0])][:top]


def best_values(store: Store, study: StudyRow) -> dict[str, float]:
    """Model -> its best validation value of the study metric over completed trials."""
    return {row.model: loads(row.val_json)[study.metric] for row in best_trials(store, study)}


def race_standings(store: Store, study: StudyRow) -> dict[str, str]:
    """Model -> its standing in the study's stored verdict (``automl.search.verdicts``), {} without one."""
    row = store.verdict(study.id)
    return {s.model: s.standing for s in Comparison.from_dict(loads(row.result_json)).standings} if row else {}


class Allocator:
    """Decides (once, for all workers) the model of each trial of ``study``."""

    def __init__(self, store: Store, study: StudyRow, models: list[str], k: int = MIN_TRIALS):
        self.store, self.study, self.models, self.k = store, study, list(models), k

    def model_for(self, trial_number: int, fixed: str | None = None, replaces: Collection[int] = ()) -> str:
        """The model of trial ``trial_number``: ``fixed`` when the trial came with one (a paper
        default, a retried trial), else the plan's choice; recorded either way, in place of the
        trials it runs again (``replaces``)."""
        # read before the study's lock: on SQLite every transaction takes the write lock, so a read
        # inside ``choose`` would wait for the transaction that called it
        best = {} if fixed else best_values(self.store, self.study)
        verdict = {} if fixed else race_standings(self.store, self.study)

        def choose(given: dict[str, int]) -> str:
            return fixed or next_model(self.models, given, best, self.study.metric in MAXIMIZE, self.k, verdict=verdict)

        return self.store.allocate(self.study.id, trial_number, choose, replaces)
