"""Fixtures: a private data directory and database per test."""

from __future__ import annotations

import sys
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
