"""Optuna's RDB storage in CrossBoard's own database, with the heartbeat that re-queues the trials
of workers that stopped beating."""

from __future__ import annotations

import os
import time
import warnings

import optuna
import sqlalchemy as sa
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from storage.db import engine_kwargs, serialize_sqlite_writes

MAX_RETRY = 2       # a trial whose worker was lost runs again at most this many times
SCHEMA_RACE_TRIES = 5


def heartbeat_seconds() -> tuple[int, int]:
    """(heartbeat interval, grace period) for stale-trial detection, from the environment."""
    interval = int(os.environ.get("CROSSBOARD_HEARTBEAT_S", "10"))
    return interval, int(os.environ.get("CROSSBOARD_GRACE_S", str(interval * 3)))


def optuna_storage(url: str) -> RDBStorage:
    """Optuna's RDB storage in the same database (``optuna-dashboard URL`` opens it). A trial
    whose worker stops beating is failed and re-queued (at most ``MAX_RETRY`` times)."""
    interval, grace = heartbeat_seconds()
    for attempt in range(SCHEMA_RACE_TRIES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = RDBStorage(url, engine_kwargs=engine_kwargs(url), heartbeat_interval=interval,
                                     grace_period=grace, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                                         max_retry=MAX_RETRY))
            break
        except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
            # another process creates Optuna's tables in a new database at this moment ("already exists")
            if attempt == SCHEMA_RACE_TRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    serialize_sqlite_writes(storage.engine)
    return storage
