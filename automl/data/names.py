"""Names of datasets and studies: text a person types, never a path and never mistaken for an id.

A name has 1 to ``MAX_NAME_CHARS`` characters (the width of the name columns, the same on SQLite
and PostgreSQL) and no control characters. A study name is not digits only (``crossboard leaderboard
7`` means study id 7); a dataset name is not 6 or more hex digits (that reads as a dataset id
prefix). Where a name must become a file name, ``safe_file_name`` makes a safe one of it."""

from __future__ import annotations

import re

from automl.errors import SettingsError, clip
from storage.tables import DatasetRow, StudyRow

MAX_NAME_CHARS = min(DatasetRow.__table__.c.name.type.length, StudyRow.__table__.c.name.type.length)
MAX_FILE_NAME_CHARS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DATASET_ID = re.compile(r"[0-9a-fA-F]{6,64}")
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


def checked_name(name: str, what: str) -> str:
    """``name`` stripped of surrounding spaces, or SettingsError saying what is wrong with it and the
    fix; ``what`` is "dataset" or "study"."""
    name = name.strip()
    if not name:
        raise SettingsError(f"the {what} name is empty; give it a name")
    if len(name) > MAX_NAME_CHARS:
        raise SettingsError(f"the {what} name {clip(name, 40)!r} has {len(name)} characters; the most is "
                            f"{MAX_NAME_CHARS}, choose a shorter one")
    if _CONTROL.search(name):
        raise SettingsError(f"the {what} name {clip(name, 40)!r} holds a control character (a line break, tab or "
                            "similar); choose a name without one")
    if what == "study" and name.isdigit():
        raise SettingsError(f"the study name {name!r} is digits only, which reads as a study id; add a letter "
                            f"(e.g. run-{name})")
    if what == "dataset" and _DATASET_ID.fullmatch(name):
        raise SettingsError(f"the dataset name {name!r} is hex digits only, which reads as a dataset id; add "
                            f"another letter or a dash (e.g. data-{name})")
    return name


def derived_name(text: str, what: str) -> str:
    """A valid ``what`` name made from ``text`` (e.g. a file's stem), which the person did not type."""
    name = _CONTROL.sub(" ", text).strip()[:MAX_NAME_CHARS] or what
    try:
        return checked_name(name, what)
    except SettingsError:           # digits only, or a hex run: prefix it
        return checked_name(f"{what}-{name}"[:MAX_NAME_CHARS], what)


def safe_file_name(name: str, fallback: str = "crossboard") -> str:
    """A file name made of ``name``'s letters, digits, dots, dashes and underscores (other runs become
    one underscore), never starting with a dot, at most ``MAX_FILE_NAME_CHARS`` long; ``fallback``
    when nothing is left. Never a path: no separator, no ``..``."""
    safe = _UNSAFE_FILE_CHARACTERS.sub("_", name).strip("._-")[:MAX_FILE_NAME_CHARS].strip("._-")
    return safe or fallback
