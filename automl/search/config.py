"""A study's settings, stored as JSON in ``cb_studies.config_json``. The CLI's and the UI's
defaults are these (``automl.search.study.check_config`` checks them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from automl.data.schema import DEFAULT_CANDIDATES

PRUNERS = ("median", "halving", "none")


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
    diagnosed_pairs: list[list[str]] = field(default_factory=list)  # an earlier study's consensus pairs
    candidates: int = DEFAULT_CANDIDATES            # implicit: sampled items ranked with each held-out one, 0 = all
    trial_minutes: float | None = None              # training time cap of one trial; None: from the budget
    seeds: int = 2                                  # extra seeds for the top models' best trials at the end
    top_models: int = 3                             # how many of the best models get them
    online: dict | None = None                      # an online study's ``automl.online.stream.OnlineSettings``

    @classmethod
    def from_json(cls, text: str) -> StudyConfig:
        return cls(**json.loads(text))
