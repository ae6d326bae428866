"""What a person does to a study, the same from the CLI and the UI: start workers, ask them to stop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from automl.training.device import SHARERS_SETTING, sharers, worker_devices
from storage import Store
from storage.tables import StudyRow


def worker_logs(home: Path, study_id: int) -> list[Path]:
    """The log files of the study's workers started on this machine (``launch_workers``)."""
    return sorted((Path(home) / "logs").glob(f"study-{study_id}-worker-*.log"))


def launch_workers(url: str, study_id: int, home: Path, count: int,
                   devices: list[str | None] | None = None) -> list[subprocess.Popen]:
    """Start ``count`` worker processes that outlive the caller (own session, logs in home/logs),
    worker n on ``devices[n]`` (default ``worker_devices``: spread over this machine's GPUs), told how many
    workers share its GPU (``$CROSSBOARD_DEVICE_SHARERS``: its data budget is a share). The
    database URL reaches them through ``$CROSSBOARD_DB``, never the command line, so that a
    password in it does not show in ``ps``. A daemon thread waits for each, so a long-lived caller
    (the app's server) keeps no finished worker as a zombie."""
    logs = Path(home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CROSSBOARD_DB": url, "CROSSBOARD_HOME": str(home)}
    devices = devices or worker_devices(count)
    procs = []
    for n, shared_by in enumerate(sharers(devices)):
        device = ["--device", devices[n]] if devices[n] else []
        with open(logs / f"study-{study_id}-worker-{os.getpid()}-{n}.log", "ab") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "automl.cli", "worker", str(study_id), *device],
                env={**env, SHARERS_SETTING: str(shared_by)},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=str(Path(__file__).resolve().parents[2]),     # the project root: ``-m automl.cli`` resolves
            ))
        threading.Thread(target=procs[-1].wait, daemon=True, name=f"wait-worker-{procs[-1].pid}").start()
    return procs


def request_stop(store: Store, study: StudyRow) -> None:
    """Ask the study's workers, wherever they run, to stop after their current trial."""
    store.update_study(study.id, stop_requested=True)
