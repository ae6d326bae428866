"""A study's settings (stored as JSON in ``cb_studies.config_json``) and their checks. The
CLI's and the UI's defaults are these."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from automl.data.schema import Schema
from automl.errors import SettingsError
from automl.features.topk_split import DEFAULT_CANDIDATES
from automl.search.capabilities import model_availability

PRUNERS = ("median", "hyperband", "none")


@dataclass
class StudyConfig:
    models: list[str]
    n_trials: int | None = 20
    minutes: float | None = None
    workers: int = 1
    max_epochs: int = 10
    patience: int = 2
    pruner: str = "median"
    seed: int = 0
    device: str | None = None                       # None: CUDA when present, else CPU
    wide_pairs: list[list[str]] = field(default_factory=list)   # user-chosen column pairs to cross
    candidates: int = DEFAULT_CANDIDATES            # implicit: sampled items ranked with each held-out one, 0 = all

    @classmethod
    def from_json(cls, text: str) -> StudyConfig:
        return cls(**json.loads(text))


def check_config(config: StudyConfig, schema: Schema, task: str) -> None:
    available = model_availability(schema, task)
    if not config.models:
        raise SettingsError("no models chosen; pick at least one (see `crossboard models`)")
    for name in config.models:
        if name not in available:
            raise SettingsError(f"unknown model {name!r}; the models are: {', '.join(available)}")
        if available[name]:
            raise SettingsError(f"{available[name]}; leave it out of --models")
    if config.n_trials is None and config.minutes is None:
        raise SettingsError("give a budget: a number of trials, minutes, or both")
    if config.n_trials is not None and config.n_trials < 1 or config.minutes is not None and config.minutes <= 0:
        raise SettingsError("the budget must be positive (trials >= 1, minutes > 0)")
    if not 0 <= config.workers <= 64:
        raise SettingsError("workers must be between 0 (start them yourself with `crossboard worker`) and 64")
    if config.pruner not in PRUNERS:
        raise SettingsError(f"pruner {config.pruner!r} is unknown; use one of {', '.join(PRUNERS)}")
    columns = set(schema.names("user", "item", "categorical"))
    for pair in config.wide_pairs:
        if len(pair) != 2 or not set(pair) <= columns:
            raise SettingsError(f"cross pair {pair} must name two categorical columns among {sorted(columns)}")
