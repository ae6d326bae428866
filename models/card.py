"""Model cards: what the registry knows about each model, and the scoped search space helper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from models.spec import DataSpec, FieldInfo

REQUIREMENT_TEXT = {
    "fields": "at least one categorical, numeric or sequence column",
    "user": "a user id column",
    "item": "an item id column",
    "sequence": "a behavior sequence column (or a user, item and timestamp to derive one)",
    "timestamp": "a timestamp column",
    "history": ("a behavior history: user, item and timestamp columns to derive it from, "
                "or a column of delimited past item ids"),
}


ALL_TASKS = frozenset({"ctr", "rating", "implicit"})


class ModelKind(StrEnum):
    """How a model is fitted: ``torch`` (the epoch loop), ``trees`` (tree stages on the CPU) or
    ``baseline`` (fitted once, no training: popularity, random)."""

    TORCH = "torch"
    TREES = "trees"
    BASELINE = "baseline"


class TreeEstimator(Protocol):
    """What a ``ModelKind.TREES`` card builds: fitted in stages on numpy features, one stage an
    "epoch" of the trainer (``automl.training.trees``), stored as bytes in its own text format."""

    @staticmethod
    def features(arrays: dict[str, np.ndarray]) -> np.ndarray: ...      # batch arrays -> [n, d] float32

    def fit_stage(self, x: np.ndarray, y: np.ndarray, threads: int = 0) -> None: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...                  # [n] float64 logits or ratings

    def keep_stages(self, n_stages: int) -> None: ...

    def state(self) -> bytes: ...

    def load_state(self, state: bytes) -> TreeEstimator: ...

    def n_params(self) -> int: ...


class ScopedTrial:
    """Prefixes every parameter name with ``<model>.`` so each model's options are conditional
    under the top-level ``model`` choice. Wraps an Optuna Trial or FixedTrial."""

    def __init__(self, trial, prefix: str):
        self.trial, self.prefix = trial, prefix

    def categorical(self, name: str, choices: list) -> Any:
        return self.trial.suggest_categorical(f"{self.prefix}.{name}", choices)

    def int(self, name: str, low: int, high: int, log: bool = False) -> int:
        return self.trial.suggest_int(f"{self.prefix}.{name}", low, high, log=log)

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return self.trial.suggest_float(f"{self.prefix}.{name}", low, high, log=log)


@dataclass(frozen=True)
class ModelCard:
    """Name, title and family come first, so a card reads as one line of the registry; a
    field-crossing model (every task, any schema with fields) needs no ``tasks`` or ``requires``."""

    name: str                     # registry key, also the leaderboard's model name
    title: str                    # e.g. "DeepFM (Guo et al., 2017)"
    family: str                   # "baseline", "factorization", "deep crossing", ...
    search_space: Callable[[ScopedTrial, DataSpec], dict]   # -> params (unprefixed names)
    build: Callable[[DataSpec, dict], Any]                  # -> RecModel (torch), TreeEstimator or baseline
    defaults: dict = field(default_factory=dict)           # the paper's configuration, tried first
    key_options: tuple[str, ...] = ()                       # shown on the leaderboard
    tasks: frozenset[str] = ALL_TASKS
    requires: frozenset[str] = frozenset({"fields"})        # see REQUIREMENT_TEXT
    kind: ModelKind = ModelKind.TORCH
    # Models whose trained weights this one starts from when its ``pretrain`` option is on
    # (NeuMF: GMF and MLP); the built model then has ``load_pretrained({name: state_dict})``.
    pretrain: tuple[ModelCard, ...] = ()
    # What the engine asks of a model instead of naming it. ``pair_sources``: the DataSpec's field-pair
    # lists the model crosses ("ranked": ``ranked_pairs``, ranked only for a study with such a model;
    # "user": ``user_pairs``; "diagnosed": ``diagnosed_pairs``, an earlier study's consensus pairs).
    pair_sources: frozenset[str] = frozenset()
    # The model's own online mode (``automl.online``) beside static, incremental and retrain, and the
    # inputs that mode needs (see REQUIREMENT_TEXT) beyond ``requires``.
    online_mode: str | None = None
    online_requires: frozenset[str] = frozenset()

    def unavailable_reason(self, task: str, available: set[str]) -> str | None:
        """Why this model cannot run on data of ``task`` offering ``available`` inputs
        (see ``DataSpec.available``), or None when it can."""
        if task not in self.tasks:
            return f"{self.name} does not support the {task} task (it supports {', '.join(sorted(self.tasks))})"
        missing = sorted(self.requires - available)
        if missing:
            return f"{self.name} needs " + " and ".join(REQUIREMENT_TEXT[m] for m in missing)
        return None

    def online_unavailable_reason(self, available: set[str]) -> str | None:
        """Why this model's own online mode cannot run on data offering ``available`` inputs, or None."""
        missing = sorted(self.online_requires - available) if self.online_mode else []
        if missing:
            return (f"{self.name}'s online mode ({self.online_mode}) needs "
                    + " and ".join(REQUIREMENT_TEXT[m] for m in missing))
        return None

    def enqueue_params(self) -> dict:
        """The default configuration as Optuna parameters (prefixed) for ``study.enqueue_trial``."""
        return {"model": self.name, **{f"{self.name}.{k}": v for k, v in self.defaults.items()}}

    def describe(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "family": self.family,
            "tasks": sorted(self.tasks),
            "requires": sorted(self.requires),
            "defaults": self.defaults,
            "key_options": list(self.key_options),
            "kind": str(self.kind),
            "pretrain": [part.name for part in self.pretrain],
            "pair_sources": sorted(self.pair_sources),
            "online_mode": self.online_mode,
        }


class SpaceRecorder:
    """A stand-in trial that answers with the card's defaults (else the first choice or the low
    end) and records every option it was asked for: the search space as data, for
    ``crossboard models --json`` and the UI."""

    def __init__(self, defaults: dict, prefix: str):
        self.defaults, self.prefix, self.options = defaults, prefix, {}

    def _name(self, full: str) -> str:
        return full[len(self.prefix) + 1:]

    def suggest_categorical(self, name, choices):
        key = self._name(name)
        self.options[key] = {"type": "categorical", "choices": list(choices)}
        return self.defaults.get(key, choices[0])

    def suggest_int(self, name, low, high, log=False):
        key = self._name(name)
        self.options[key] = {"type": "int", "low": low, "high": high, "log": log}
        return self.defaults.get(key, low)

    def suggest_float(self, name, low, high, log=False):
        key = self._name(name)
        self.options[key] = {"type": "float", "low": low, "high": high, "log": log}
        return self.defaults.get(key, low)


EXAMPLE_SPEC = DataSpec(
    task="ctr",
    fields=tuple(FieldInfo(f"field{j}", 100, side, frequent=(99, 70, 40, 20))
                 for j, side in enumerate(["user", "item", "item", "context"])),
    numeric=("numeric0",),
    buckets=(FieldInfo("numeric0 (bucket)", 12),),
    user_field=0,
    item_field=1,
    ranked_pairs=((0, 2), (2, 3), (0, 3), (1, 3), (0, 1), (1, 2)),
)


def search_options(card: ModelCard, spec: DataSpec = EXAMPLE_SPEC, max_runs: int = 64) -> dict:
    """The options ``card`` searches on ``spec``, conditional ones included: the space is
    walked once per categorical choice so every branch records what it asks for."""
    options: dict = {}
    pending, tried = [dict(card.defaults)], []
    while pending and len(tried) < max_runs:
        answers = pending.pop()
        tried.append(answers)
        recorder = SpaceRecorder(answers, card.name)
        card.search_space(ScopedTrial(recorder, card.name), spec)
        for key, option in recorder.options.items():
            options.setdefault(key, option)
            for choice in option.get("choices", []):
                branch = {**answers, key: choice}
                if branch not in tried and branch not in pending:
                    pending.append(branch)
    return options
