"""Database URL resolution and engines.

SQLite (the default) is opened in WAL mode with a long busy timeout, and every transaction
starts with ``BEGIN IMMEDIATE``: a writer then waits for the lock instead of failing with
"database is locked" when it upgrades a read transaction. Optuna's own engine gets the same
settings once its storage is initialised (``serialize_sqlite_writes``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_S = 120


def default_home() -> Path:
    """The data directory: ``$CROSSBOARD_HOME`` or ``~/.crossboard``."""
    return Path(os.environ.get("CROSSBOARD_HOME") or Path.home() / ".crossboard").expanduser()


def resolve_url(url: str | None = None, home: Path | None = None) -> str:
    """``url``, else ``$CROSSBOARD_DB``, else a SQLite file in the data directory."""
    url = url or os.environ.get("CROSSBOARD_DB")
    if url:
        return url
    home = Path(home or default_home())
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'crossboard.db').resolve()}"


def engine_kwargs(url: str) -> dict:
    """Keyword arguments for ``create_engine`` (also handed to Optuna's RDBStorage)."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}}
    return {"pool_pre_ping": True}


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL and process."""
    return serialize_sqlite_writes(sa.create_engine(url, **engine_kwargs(url)))


def serialize_sqlite_writes(engine: Engine) -> Engine:
    """On SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every transaction, so
    concurrent writers queue on the lock instead of failing. Other databases: unchanged.
    Connections already pooled are dropped so every connection gets the settings."""
    if engine.dialect.name != "sqlite":
        return engine
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    engine.dispose()
    return engine


def _sqlite_on_connect(dbapi_connection, connection_record):
    # Let SQLAlchemy (not the driver) decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(conn):
    conn.exec_driver_sql("BEGIN IMMEDIATE")
