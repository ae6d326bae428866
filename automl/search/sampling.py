"""The sampler and the pruner every worker of a study uses.

The model of a trial is not sampled by TPE: ``AllocatingSampler`` asks the study's plan
(``automl.search.allocation``) and leaves every other option to TPE. Pruning judges a trial only
against earlier trials of its own model (``WithinModelPruner``): a linear model's epoch-1 curve
says nothing about when a deep model should be stopped.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from automl.search.allocation import MIN_TRIALS, MODEL_PARAM, Allocator
from automl.search.config import StudyConfig


def make_sampler(seed: int, allocator: Allocator) -> BaseSampler:
    tpe = optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)
    return AllocatingSampler(tpe, allocator)


class AllocatingSampler(BaseSampler):
    """``base`` (TPE) for every option but the model, which ``allocator`` decides."""

    def __init__(self, base: BaseSampler, allocator: Allocator):
        self.base, self.allocator = base, allocator

    def infer_relative_search_space(self, study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """TPE's joint space, narrowed to the options of the model this trial gets (the plan's
        choice, or the one an enqueued trial fixes): sampling every model's options for every
        trial would cost as many TPE fits as there are models."""
        fixed = trial.system_attrs.get("fixed_params", {}).get(MODEL_PARAM)
        model = self.allocator.model_for(trial.number, fixed=fixed)
        space = self.base.infer_relative_search_space(study, trial)
        return {name: d for name, d in space.items() if name.startswith(f"{model}.")}

    def sample_relative(self, study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict:
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial: FrozenTrial, param_name: str, distribution: BaseDistribution) -> Any:
        if param_name == MODEL_PARAM:
            return self.allocator.model_for(trial.number)
        return self.base.sample_independent(study, trial, param_name, distribution)

    def before_trial(self, study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study, trial: FrozenTrial, state: TrialState, values) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


class ModelTrials:
    """A view of ``study`` whose trials are those of one model (what a wrapped pruner reads)."""

    def __init__(self, study: optuna.Study, model: str):
        self._study, self._model = study, model

    def get_trials(self, deepcopy: bool = True, states=None) -> list[FrozenTrial]:
        return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states)
                if t.params.get(MODEL_PARAM) == self._model]

    def __getattr__(self, name: str):
        return getattr(self._study, name)


class WithinModelPruner(optuna.pruners.BasePruner):
    """``base`` applied to the trials of the trial's own model; the first ``protected`` trials of
    each model are never pruned."""

    def __init__(self, base: optuna.pruners.BasePruner, protected: int = MIN_TRIALS):
        self.base, self.protected = base, protected

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        same = ModelTrials(study, trial.params.get(MODEL_PARAM))
        earlier = sum(t.number < trial.number for t in same.get_trials(deepcopy=False))
        return earlier >= self.protected and self.base.prune(same, trial)


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    """``median``: stop a trial whose best value so far is worse than the median of its model's
    earlier trials at the same epoch; ``halving``: asynchronous successive halving over epochs
    within the model; ``none``."""
    if config.pruner in ("halving", "hyperband"):        # "hyperband": the name in studies made before
        base = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    elif config.pruner == "median":
        base = optuna.pruners.MedianPruner(n_startup_trials=MIN_TRIALS, n_warmup_steps=1)
    else:
        return optuna.pruners.NopPruner()
    return WithinModelPruner(base)
