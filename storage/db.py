"""Database URL resolution and engines.

SQLite (the default) is opened in WAL mode with a long busy timeout. A transaction that may
write starts with ``BEGIN IMMEDIATE``: a writer then waits for the lock instead of failing with
"database is locked" when it upgrades a read transaction. A transaction opened on an engine with
the ``READ_ONLY`` execution option (``Store.reading``) starts with a plain ``BEGIN``: under WAL it
reads a snapshot and never waits for a writer. Optuna's own engine gets the same settings once its
storage is initialised (``serialize_sqlite_writes``); all of its transactions count as writes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_S = 120
ROOM_TO_OPEN = 2**20       # bytes free below which SQLite failing to open a WAL database means a full disk
READ_ONLY = "crossboard_read_only"      # execution option of transactions that only read


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


SUPPORTED_DIALECTS = ("sqlite", "postgresql")      # the databases CrossBoard is tested on


class UnsupportedDatabase(ValueError):
    """A database URL of a kind CrossBoard does not support."""


def check_url(url: str) -> str:
    """``url`` if it names SQLite or PostgreSQL, else UnsupportedDatabase saying what to use."""
    try:
        dialect = sa.engine.make_url(url).get_backend_name()
    except sa.exc.ArgumentError:
        raise UnsupportedDatabase(f"{url!r} is not a database URL; use e.g. "
                                  "postgresql+psycopg://user@host/crossboard or sqlite:////path/crossboard.db") from None
    if dialect not in SUPPORTED_DIALECTS:
        raise UnsupportedDatabase(f"{dialect} databases are not supported: CrossBoard runs and is tested on SQLite "
                                  "(one machine) and PostgreSQL (several); use a postgresql+psycopg:// URL")
    return url


def database_place(url: str) -> Path | str:
    """Where the database at ``url`` keeps its data, for messages: a SQLite file's folder, else the
    server in words."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database or ".").resolve().parent
    return f"the {parsed.get_backend_name()} database {parsed.database!r} on {parsed.host or 'localhost'}"


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
    """On SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every transaction that may
    write, so concurrent writers queue on the lock instead of failing. Other databases: unchanged.
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
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as error:
        # the first connection to a WAL database creates its -shm and -wal files: "disk I/O error" on a full disk
        path = Path(cursor.execute("PRAGMA database_list").fetchone()[2] or ".")
        if shutil.disk_usage(path.parent).free < ROOM_TO_OPEN:
            raise sqlite3.OperationalError(f"database or disk is full: no room for the -shm and -wal files of {path}") \
                from error
        raise
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(conn):
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")
