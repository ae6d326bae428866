"""The recommended models of a new study: a diverse set the budget can give a fair start.

A model's fair start is its first ``MIN_TRIALS`` trials (``automl.search.allocation``), each given a fair
share of the trials' time of at least ``MIN_SHARE_S`` (the share ``allocation.trial_time_cap_s`` caps a
trial at ``CAP_SHARES`` of). So the budget's room is the most models that keep both: ``--trials`` //
MIN_TRIALS of them, and as many as keep the share of the trials' minutes × workers / (MIN_TRIALS × models)
at MIN_SHARE_S or more; at least one model.

Which models fill the room is read from the cards only. The candidates are the models that can run on the
dataset for its task; a model with an online mode of its own (``ModelCard.online_mode``: DRN) is one only
for an online study, where that mode is what it adds. They are taken round robin over their families (one
linear or tree reference, one factorization model, one deep crossing model, one history model, ... then a
second of each), each family's members in the registry's order (its classic first), and the families that
are made for the task first: those with a member supporting the fewest tasks (a rating study meets the
collaborative-filtering models first, an online ctr study DRN); ties in the registry's order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import zip_longest

from automl.search.allocation import CAP_SHARES, MIN_TRIALS, trial_time_cap_s
from automl.search.config import StudyConfig
from models import REGISTRY

# The least training time (seconds of one worker) a model's first trials should each be given: the fair-budget
# benchmark (docs/BENCHMARKS.md: 12 minutes, 2 workers, 15 models, shares of 32 s) completed 3 or more trials of
# every model on the 40,000-row demo log with shares this long.
MIN_SHARE_S = 30.0


@dataclass(frozen=True)
class Recommendation:
    """``models``: the recommended models, in the order they were taken; ``candidates``: every model that fits
    the task and the data, in that order (``models`` is its head); ``share_s``: each of the recommended models'
    first trials' fair share of the trials' time in seconds (None without a time budget); ``online_only``: the
    models that can run but are candidates of an online study only."""

    models: tuple[str, ...]
    candidates: tuple[str, ...]
    share_s: float | None
    online_only: tuple[str, ...] = ()


def pick_order(names: list[str]) -> list[str]:
    """``names`` in the order a recommendation takes them (see the module docstring)."""
    families: dict[str, list[str]] = {}
    for name, card in REGISTRY.items():
        if name in names:
            families.setdefault(card.family, []).append(name)
    by_fit = sorted(families.values(), key=lambda members: min(len(REGISTRY[m].tasks) for m in members))
    return [name for round_ in zip_longest(*by_fit) for name in round_ if name is not None]


def fair_share_s(config: StudyConfig, models: list[str]) -> float | None:
    """Seconds of one trial's fair share of ``config``'s trial time when it runs ``models`` (None without
    ``--minutes``): the per-trial cap derived from the budget, over CAP_SHARES."""
    cap = trial_time_cap_s(replace(config, models=list(models), trial_minutes=None))
    return None if cap is None else cap / CAP_SHARES


def recommend(availability: dict[str, str | None], config: StudyConfig) -> Recommendation:
    """The recommended models for a study with ``config``'s budget (``n_trials``, ``minutes``, ``workers``,
    ``online``: its ``models`` are not read) on data whose ``availability`` (model -> None or why it cannot
    run, ``automl.search.capabilities.model_availability``) is given."""
    runnable = [name for name, why in availability.items() if why is None]
    online_only = [] if config.online is not None else [m for m in runnable if REGISTRY[m].online_mode]
    candidates = pick_order([m for m in runnable if m not in online_only])
    room = len(candidates)
    if config.n_trials is not None:
        room = min(room, max(config.n_trials // MIN_TRIALS, 1))
    while config.minutes is not None and room > 1 and fair_share_s(config, candidates[:room]) < MIN_SHARE_S:
        room -= 1
    chosen = candidates[:room]
    return Recommendation(tuple(chosen), tuple(candidates), fair_share_s(config, chosen) if chosen else None,
                          tuple(online_only))
