"""Errors a user can act on. Their message names the file, column or row and says what to do."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class CrossBoardError(Exception):
    """Any problem caused by the user's input or settings; shown as-is, never as a traceback."""


class DataError(CrossBoardError):
    """The uploaded table cannot be used as it is."""


class SettingsError(CrossBoardError):
    """A study, model or CLI setting is invalid."""


class NotFoundError(CrossBoardError):
    """A dataset or study named by the user does not exist."""


class DiskFull(CrossBoardError):
    """A write failed for want of space: the disk holding the home (or the database) is full."""


FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")
PG_DISK_FULL = "53100"      # PostgreSQL's SQLSTATE disk_full


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` or an error it wraps (a driver's, a cause) says the disk is full: ENOSPC or
    EDQUOT, SQLite's "database or disk is full", PostgreSQL's disk_full."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in FULL_ERRNOS or getattr(error, "sqlstate", None) == PG_DISK_FULL:
            return True
        if any(text in str(error).lower() for text in FULL_TEXTS):
            return True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return False


def megabytes(n: float) -> str:
    """``n`` bytes in megabytes, for messages ("12.3 MB")."""
    return f"{n / 2**20:,.1f} MB"


def out_of_space(where: Path | str, what: str, needed: int | None = None) -> DiskFull:
    """DiskFull for ``what`` (e.g. "encoding dataset 'clicks'") stopped by a full disk at ``where``
    (a folder, or a database server named in words); ``needed``: about the bytes it wanted."""
    free = ""
    if isinstance(where, Path):
        existing = next((p for p in (where, *where.parents) if p.exists()), None)
        free = f"{megabytes(shutil.disk_usage(existing).free)} free" if existing else ""
    wanted = f"about {megabytes(needed)} needed" if needed else ""
    shown = f" ({'; '.join(filter(None, (free, wanted)))})" if free or wanted else ""
    return DiskFull(f"{what} failed: the disk holding {where} is full{shown}. Free space there (or set "
                    "CROSSBOARD_HOME to a folder on a larger disk) and run it again; nothing half-written was kept.")


@contextmanager
def space_for(what: str, where: Path | str, needed: int | None = None) -> Iterator[None]:
    """Raise ``out_of_space(where, what, needed)`` for a full disk met inside the block."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as error:
        if disk_full(error):
            raise out_of_space(where, what, needed) from error
        raise


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (an ellipsis marks the cut), for quoting a value in a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
