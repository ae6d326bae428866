"""Files written beside their target and moved there when complete (``NAME.HOST-PID.part``), removed on
failure and, when their process died on this machine, by the next writer or ``crossboard settle``; a full
disk met while writing one is reported as ``DiskFull`` naming the folder and the space needed."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from automl.errors import DiskFull, disk_full, out_of_space


def partial_path(target: Path) -> Path:
    """Where this process writes ``target`` before moving it there: beside it, ``NAME.HOST-PID.part``
    (emptied of an earlier try), once the partial files of this machine's dead processes in that
    folder are removed (``remove_stale_partials``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target.parent)
    partial = target.with_name(f"{target.name}.{socket.gethostname()}-{os.getpid()}.part")
    remove_path(partial)
    return partial


def remove_stale_partials(folder: Path) -> None:
    """Remove the partial files and folders (``partial_path``) in ``folder`` whose process, on this
    machine, no longer runs: a process killed mid-write (SIGKILL, SIGBUS) cannot remove its own."""
    if not folder.is_dir():
        return
    for entry in folder.glob(f"*.{socket.gethostname()}-*.part"):
        pid = entry.name.removesuffix(".part").rpartition("-")[2]
        if pid.isdigit() and not process_runs(int(pid)):
            remove_path(entry)


@contextmanager
def removed_on_failure(partial: Path, what: str | None, needed: int | None = None) -> Iterator[Path]:
    """Yield ``partial``; if the block raises, remove it (file or folder), and for a full disk raise
    DiskFull naming its folder, ``what`` was written and the bytes ``needed`` (else those written so far);
    ``what`` None leaves that message to the caller's own write."""
    try:
        yield partial
    except BaseException as error:
        written = size_of(partial)
        remove_path(partial)
        if what is not None and isinstance(error, Exception) and not isinstance(error, DiskFull) \
                and disk_full(error):
            raise out_of_space(partial.parent, what, max(needed or 0, written)) from error
        raise


def remove_path(path: Path) -> None:
    """Delete a file, or a folder with what it holds (nothing when absent)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def size_of(path: Path) -> int:
    """Bytes in the file or the folder's files (0 when absent)."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.exists() else 0


def process_runs(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (a reused pid passes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not zombie(pid)


def zombie(pid: int) -> bool:
    """A process that exited but was not yet reaped by its parent (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
