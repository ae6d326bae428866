"""Running the ``crossboard`` CLI as a separate process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli_env(home: Path, **extra: str) -> dict:
    return {**os.environ, "CROSSBOARD_HOME": str(home), "CROSSBOARD_DB": f"sqlite:///{home / 'crossboard.db'}",
            "CROSSBOARD_THREADS": "1", **extra}


def crossboard(home: Path, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    """Run ``crossboard ARGS`` to completion; returns the completed process (text output)."""
    return subprocess.run([sys.executable, "-m", "automl.cli", *args], cwd=ROOT, env=cli_env(home, **extra),
                          check=False, capture_output=True, text=True, timeout=timeout)


def start_crossboard(home: Path, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "automl.cli", *args], cwd=ROOT, env=cli_env(home, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
