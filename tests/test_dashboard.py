"""``optuna-dashboard <storage>`` opens the studies CrossBoard creates."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from automl.data.datasets import inspect, save
from automl.data.demo import demo_frame
from automl.search.config import StudyConfig
from automl.search.study import create_study


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_optuna_dashboard_lists_a_crossboard_study(store):
    dashboard = Path(sys.executable).with_name("optuna-dashboard")
    if not dashboard.exists():
        pytest.skip("optuna-dashboard is not installed (it is a dependency: reinstall with `pip install -e .`)")
    row = save(store, inspect(demo_frame(300, 30, 20).to_csv(index=False).encode(), "log.csv"))
    study = create_study(store, row, StudyConfig(models=["lr", "fm"], n_trials=2), name="visible")
    port = free_port()
    server = subprocess.Popen([dashboard, store.url, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, body = time.time() + 60, None
        while body is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    body = json.loads(response.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, "optuna-dashboard did not answer"
        names = [s["study_name"] for s in body["study_summaries"]]
        assert study.optuna_name in names
    finally:
        server.terminate()
        server.wait(timeout=10)
