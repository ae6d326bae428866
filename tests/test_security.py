"""Safe by default: the app listens on this machine only unless told otherwise, and then needs a
password; the database URL (and any password in it) never reaches a worker's command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from automl.search import control

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (IPv4 and IPv6), from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:      # 0A: LISTEN
                found.add(address)
    return found


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_app_refuses_a_network_address_without_a_password(home):
    env_without = {k: v for k, v in os.environ.items() if k != "CROSSBOARD_PASSWORD"}
    done = subprocess.run([sys.executable, "-m", "automl.cli", "--home", str(home), "app", "--host", "0.0.0.0"],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env_without)
    assert done.returncode == 2
    assert "CROSSBOARD_PASSWORD" in done.stderr and "0.0.0.0" in done.stderr


@pytest.mark.slow
def test_the_app_listens_on_the_loopback_address_by_default(home):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "--home", str(home), "app", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not listening_addresses(port) and time.monotonic() < deadline:
            assert proc.poll() is None, "the app exited"
            time.sleep(0.5)
        addresses = listening_addresses(port)
        assert addresses == {"0100007F"}, addresses       # 127.0.0.1, and no wildcard or IPv6 socket
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_workers_get_the_database_url_through_the_environment(tmp_path, monkeypatch):
    started = []

    class Recorder:
        def __init__(self, args, env=None, **_):
            started.append((args, env))

    monkeypatch.setattr(control.subprocess, "Popen", Recorder)
    url = "postgresql://crossboard:s3cret@db.example:5432/studies"
    control.launch_workers(url, 7, tmp_path, 2)
    assert len(started) == 2
    for args, env in started:
        assert "s3cret" not in " ".join(args) and "--db" not in args
        assert env["CROSSBOARD_DB"] == url and env["CROSSBOARD_HOME"] == str(tmp_path)
        assert args[-2:] == ["worker", "7"]


def test_a_password_gates_every_page(home, monkeypatch):
    monkeypatch.setenv("CROSSBOARD_PASSWORD", "correct horse")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["CrossBoard"] and len(at.text_input) == 1
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."] and [t.value for t in at.title] == ["CrossBoard"]
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Data"] and not at.error


def test_without_a_password_the_app_opens_on_the_data_page(home, monkeypatch):
    monkeypatch.delenv("CROSSBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Data"]


def test_column_names_reach_the_charts_as_text_not_markup():
    from ui.diagnostics_page import importance_bars, pair_bars, pair_heatmap

    evil = "<a href='http://evil.example'>price</a>"
    pairs = [{"fields": [evil, "colour"], "strength": 0.5, "low": 0.4, "high": 0.6}]
    fields = [{"field": evil, "importance": 0.1, "low": 0.0, "high": 0.2}]
    labels = [*pair_bars(pairs, "t").data[0].y, *importance_bars(fields, "auc").data[0].y,
              *pair_heatmap(pairs, [evil, "colour"], "t").data[0].x]
    assert all("<a" not in label and "&lt;a href=" in label for label in labels if "price" in label)
    assert len([label for label in labels if "price" in label]) == 3
