"""Creating a study: its settings, its Optuna study (with each model's paper defaults enqueued
first), and the CrossBoard row that the UI and the workers read."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

import optuna
import sqlalchemy as sa
import torch

from automl.data.datasets import schema_of
from automl.data.names import MAX_NAME_CHARS, checked_name, derived_name
from automl.data.schema import CROSSABLE_ROLES, METRICS, RANKING_METRICS, Schema
from automl.errors import SettingsError
from automl.evaluation.metrics import direction
from automl.online.stream import OnlineSettings
from automl.search.capabilities import model_availability, schema_inputs
from automl.search.config import PRUNERS, StudyConfig
from automl.search.optuna_storage import optuna_storage
from models import REGISTRY
from models.card import ModelKind
from models.common import TASK_DEFAULTS
from storage import Store
from storage.tables import DatasetRow, StudyRow


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
    if config.trial_minutes is not None and config.trial_minutes <= 0:
        raise SettingsError("the time cap of a trial must be positive (--trial-minutes > 0), or left out")
    if config.max_epochs < 1:
        raise SettingsError(f"a trial trains at least one epoch: --epochs {config.max_epochs} cannot work; give 1 "
                            "or more (the most epochs a trial may train)")
    if config.patience < 1:
        raise SettingsError(f"--patience {config.patience} would stop every trial after its first epoch; give 1 or "
                            "more (epochs without improvement before a trial stops; as many as --epochs never stops it)")
    if config.seeds < 0:
        raise SettingsError(f"--seeds {config.seeds} cannot work; give 0 (no reruns) or the number of extra seeds")
    if not 0 <= config.workers <= 64:
        raise SettingsError("workers must be between 0 (start them yourself with `crossboard worker`) and 64")
    check_device(config.device, here=config.workers > 0)
    if config.pruner not in PRUNERS:
        raise SettingsError(f"pruner {config.pruner!r} is unknown; use one of {', '.join(PRUNERS)}")
    if config.online is not None:
        check_online(OnlineSettings.from_dict(config.online), config, schema, task)
    columns = set(schema.names(*CROSSABLE_ROLES))
    for pair in config.wide_pairs + config.diagnosed_pairs:
        if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= columns:
            raise SettingsError(f"cross pair {pair} must name two different categorical or numeric columns (a "
                                f"numeric one crossed by its quantile bucket) among {sorted(columns)}")


def check_device(name: str | None, here: bool = True) -> None:
    """Refuse a device name that is not cpu, cuda or cuda:N, or (``here``: the workers run on this
    machine) one this machine lacks, with a message; None (the default device) passes."""
    if name is None:
        return
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise SettingsError(f"device {name!r} is not one CrossBoard trains on; use cpu, cuda or cuda:N (a GPU's "
                            "number), or leave --device out for CUDA when present, else the CPU")
    count = torch.cuda.device_count() if here and device.type == "cuda" and torch.cuda.is_available() else 0
    if here and device.type == "cuda" and (device.index or 0) >= count:
        found = (f"has {count} GPU(s), cuda:0 to cuda:{count - 1}" if count else
                 f"has no CUDA GPU (this torch {torch.__version__} "
                 + ("is built without CUDA)" if torch.version.cuda is None else "finds none)"))
        raise SettingsError(f"device {name!r}: this machine {found}; use --device cpu, a GPU it has, or leave "
                            "--device out (CUDA when present, else the CPU)")


def check_online(settings: OnlineSettings, config: StudyConfig, schema: Schema, task: str) -> None:
    """An online study replays a time-stamped ctr log."""
    settings.check()
    if task != "ctr":
        raise SettingsError(f"online studies replay a ctr log (clicks); this study's task is {task}")
    if not schema.names("timestamp"):
        raise SettingsError("an online study replays the log in time order: the dataset needs a timestamp column "
                            "(set its role on the Data page, or --role COL=timestamp)")
    have = schema_inputs(schema)
    for model in config.models:
        why = REGISTRY[model].online_unavailable_reason(have)
        if why:
            raise SettingsError(f"{why}: set that role on the Data page (or --role COL=ROLE), or leave {model} out "
                                "of --models")


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
    stamp = f"-{datetime.now():%Y%m%d-%H%M%S}"
    name = checked_name(name, "study") if name is not None else derived_name(
        dataset.name[:MAX_NAME_CHARS - len(stamp)] + stamp, "study")
    taken = SettingsError(f"a study called {name!r} exists already; choose another --name")
    if store.find_study(name) is not None:
        raise taken
    optuna_name = f"crossboard:{name}"
    try:
        study = optuna.create_study(study_name=optuna_name, storage=optuna_storage(store.url),
                                    direction=direction(metric))
    except optuna.exceptions.DuplicatedStudyError:      # another process created it since our look
        raise taken from None
    try:
        study.set_user_attr("crossboard_dataset", dataset.name)
        study.set_user_attr("metric", metric)
        for model in config.models:
            card = REGISTRY[model]
            task_options = TASK_DEFAULTS.get(task, {}) if card.kind is ModelKind.TORCH else {}
            study.enqueue_trial({**card.enqueue_params(), **{f"{model}.{k}": v for k, v in task_options.items()}})
        row = store.add_study(StudyRow(name=name, optuna_name=optuna_name, dataset_id=dataset.id, task=task,
                                       metric=metric, direction=direction(metric),
                                       config_json=json.dumps(asdict(config))))
    except Exception as error:
        optuna.delete_study(study_name=optuna_name, storage=optuna_storage(store.url))
        if isinstance(error, sa.exc.IntegrityError):
            raise taken from None
        raise
    return row
