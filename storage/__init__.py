"""Persistence: SQLAlchemy tables and the functions that read and write them (no torch here)."""

from storage.db import default_home, resolve_url
from storage.store import Store

__all__ = ["Store", "default_home", "resolve_url"]
