"""Fixtures: a private data directory and database per test."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty CROSSBOARD_HOME with its own SQLite database."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("CROSSBOARD_HOME", str(path))
    monkeypatch.setenv("CROSSBOARD_DB", f"sqlite:///{path / 'crossboard.db'}")
    return path


@pytest.fixture
def store(home):
    from storage import Store

    return Store()


@pytest.fixture
def one_thread():
    """One CPU thread for the test: small matrices run as fast on one and do not stall when the cores are
    busy, and a sparse product sums in one order (AutoRec's differs between runs on several threads)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database's URL, dropped after the test. Needs the server at 127.0.0.1:5432 (user
    postgres, trust auth); skipped where it is not running, failed instead with CROSSBOARD_REQUIRE_PG=1 (CI)."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    except psycopg.OperationalError as error:
        why = f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error}); it backs the multi-machine test"
        if os.environ.get("CROSSBOARD_REQUIRE_PG") == "1":
            pytest.fail(why + " and CROSSBOARD_REQUIRE_PG=1 requires it")
        pytest.skip(why)
    name = f"crossboard_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        admin.execute(f'DROP DATABASE "{name}"')
        admin.close()
