"""Creating a study: its settings, its Optuna study (with each model's paper defaults enqueued
first), and the CrossBoard row that the UI and the workers read."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from automl.datasets import schema_of
from automl.errors import SettingsError
from automl.implicit import DEFAULT_CANDIDATES
from automl.metrics import direction
from automl.schema import METRICS, RANKING_METRICS, Schema
from models import REGISTRY
from models.common import TASK_DEFAULTS
from storage import Store
from storage.db import engine_kwargs, serialize_sqlite_writes
from storage.tables import DatasetRow, StudyRow

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


def schema_inputs(schema: Schema) -> set[str]:
    """The inputs a dataset offers, in the vocabulary of ``ModelCard.requires``."""
    have = set()
    if schema.names("user", "item", "categorical", "numeric", "sequence"):
        have.add("fields")
    for role in ("user", "item", "sequence", "timestamp"):
        if schema.names(role):
            have.add(role)
    if {"user", "item", "timestamp"} <= have or schema.item_history in schema.names("sequence"):
        have.add("history")
    return have


def model_availability(schema: Schema, task: str | None = None) -> dict[str, str | None]:
    """Model name -> None when it can run on the dataset, else the reason it cannot."""
    have = schema_inputs(schema)
    return {name: card.unavailable_reason(task or schema.task, have) for name, card in REGISTRY.items()}


def heartbeat_seconds() -> tuple[int, int]:
    """(heartbeat interval, grace period) for stale-trial detection, from the environment."""
    interval = int(os.environ.get("CROSSBOARD_HEARTBEAT_S", "10"))
    return interval, int(os.environ.get("CROSSBOARD_GRACE_S", str(interval * 3)))


def optuna_storage(url: str) -> RDBStorage:
    """Optuna's RDB storage in the same database (``optuna-dashboard URL`` opens it). A trial
    whose worker stops beating is failed and re-queued (at most twice)."""
    interval, grace = heartbeat_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(url, engine_kwargs=engine_kwargs(url), heartbeat_interval=interval,
                             grace_period=grace,
                             heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2))
    serialize_sqlite_writes(storage.engine)
    return storage


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


def create_study(store: Store, dataset: DatasetRow, config: StudyConfig, *, task: str | None = None,
                 metric: str | None = None, name: str | None = None) -> StudyRow:
    """Create the Optuna study and the CrossBoard row; on any failure neither remains."""
    schema = schema_of(dataset)
    task = task or schema.task
    if task != schema.task and task != "implicit":
        raise SettingsError(f"dataset {dataset.name!r} is set up for the {schema.task} task; "
                            f"change its task on the Data page (or re-ingest with --task {task}) first")
    if task == "implicit" and not {"user", "item"} <= schema_inputs(schema):
        raise SettingsError(f"the implicit task ranks items for users: dataset {dataset.name!r} needs a user and "
                            "an item column (set their roles on the Data page)")
    metric = metric or METRICS[task][0]
    allowed = RANKING_METRICS if task == "implicit" else METRICS[task]
    if metric not in allowed:
        raise SettingsError(f"metric {metric!r} does not fit the {task} task; use one of {', '.join(allowed)}")
    if config.candidates < 0:
        raise SettingsError("candidates must be 0 (rank against every item) or a positive number of sampled items")
    if metric == "gauc" and not schema.names("user"):
        raise SettingsError("gauc needs a user column; set one on the Data page (or --role COL=user), or use auc")
    check_config(config, schema, task)
    name = name or f"{dataset.name}-{datetime.now():%Y%m%d-%H%M%S}"
    if store.find_study(name) is not None:
        raise SettingsError(f"a study called {name!r} exists already; choose another --name")
    optuna_name = f"crossboard:{name}"
    study = optuna.create_study(study_name=optuna_name, storage=optuna_storage(store.url),
                                direction=direction(metric))
    try:
        study.set_user_attr("crossboard_dataset", dataset.name)
        study.set_user_attr("metric", metric)
        for model in config.models:
            card = REGISTRY[model]
            task_options = TASK_DEFAULTS.get(task, {}) if card.kind == "torch" else {}
            study.enqueue_trial({**card.enqueue_params(), **{f"{model}.{k}": v for k, v in task_options.items()}})
        row = store.add_study(StudyRow(name=name, optuna_name=optuna_name, dataset_id=dataset.id, task=task,
                                       metric=metric, direction=direction(metric),
                                       config_json=json.dumps(asdict(config))))
    except Exception:
        optuna.delete_study(study_name=optuna_name, storage=optuna_storage(store.url))
        raise
    return row
