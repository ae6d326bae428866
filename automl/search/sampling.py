"""The sampler and the pruner every worker of a study uses."""

from __future__ import annotations

import optuna

from automl.search.config import StudyConfig


def make_sampler(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.max_epochs)
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.NopPruner()
