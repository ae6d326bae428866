"""Safe by default: the app listens on this machine only unless told otherwise, and then needs a
password; the database URL (and any password in it) never reaches a worker's command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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
            self.pid = len(started)

        def wait(self):                 # launch_workers waits for each worker in a thread
            return 0

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
    assert not at.text_input and not at.error and "Four steps" in [h.value for h in at.subheader]   # the landing page


def test_without_a_password_the_app_opens_on_the_landing_page(home, monkeypatch):
    monkeypatch.delenv("CROSSBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["CrossBoard"] and "Four steps" in [h.value for h in at.subheader]


def test_column_names_reach_the_charts_as_text_not_markup():
    import xml.etree.ElementTree as ET

    import numpy as np

    from ui.diagnostics_page import importance_bars, pair_bars
    from ui.svg import pair_map

    evil = "<a href='http://evil.example'>price</a>"
    pairs = [{"fields": [evil, "colour"], "strength": 0.5, "low": 0.4, "high": 0.6}]
    fields = [{"field": evil, "importance": 0.1, "low": 0.0, "high": 0.2}]
    assert all("<a" not in label and "&lt;a href=" in label for label in importance_bars(fields, "auc").data[0].y)
    for svg in (pair_bars(pairs, "t", "band"), pair_map(np.array([[np.nan, 0.5], [0.5, np.nan]]), [evil, "c"], "s")):
        assert "<a " not in svg and "&lt;a href=" in svg
        tree = ET.fromstring(svg)                                 # the name is text in the SVG, not an element
        assert not tree.findall(".//{http://www.w3.org/2000/svg}a") and not tree.findall(".//a")
        assert any(evil in (t.text or "") for t in tree.iter())


# --- the sign-in gate in front of every endpoint -------------------------------------------------------

def start_app(home: Path, port: int, password: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "CROSSBOARD_PASSWORD"}
    if password is not None:
        env["CROSSBOARD_PASSWORD"] = password
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "--home", str(home), "app", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not listening_addresses(port) and time.monotonic() < deadline:
        assert proc.poll() is None, "the app exited"
        time.sleep(0.5)
    return proc


def rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def websocket_status(port: int, cookie: str | None = None) -> str:
    """ "open" or the refusal of a websocket to the page's stream (with the session ``cookie``)."""
    import asyncio

    import websockets

    async def connect() -> str:
        try:
            async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                          additional_headers={"Cookie": cookie} if cookie else {}):
                return "open"
        except websockets.exceptions.InvalidStatus as refused:
            return f"refused {refused.response.status_code}"
    return asyncio.run(connect())


@pytest.mark.slow
def test_an_unsigned_client_reaches_nothing_but_the_sign_in_page(home):
    import requests

    port = free_port()
    proc = start_app(home, port, "correct horse")
    base = f"http://127.0.0.1:{port}"
    try:
        page = requests.get(f"{base}/", allow_redirects=False, timeout=30)
        assert page.status_code == 303 and page.headers["location"] == "/signin"
        assert "Password" in requests.get(f"{base}/signin", timeout=30).text
        for path in ("/_stcore/metrics", "/_stcore/health", "/_stcore/host-config", "/media/0123abcd.zip",
                     "/_stcore/upload_file/session/file"):
            assert requests.get(base + path, timeout=30).status_code == 401, path
        before = rss_mb(proc.pid)
        for n in range(4):
            try:
                status = requests.put(f"{base}/_stcore/upload_file/session/file{n}", timeout=60,
                                      files={"file": ("big.csv", b"0" * (20 * 2**20))}).status_code
            except requests.ConnectionError:        # refused while the body was still being sent
                status = 401
            assert status == 401
        assert rss_mb(proc.pid) - before < 40, "the refused uploads reached the server's memory"
        assert websocket_status(port) == "refused 403"
        wrong = requests.post(f"{base}/signin", data={"password": "wrong"}, allow_redirects=False, timeout=30)
        assert wrong.status_code == 401 and "crossboard_session" not in wrong.headers.get("set-cookie", "")
        right = requests.post(f"{base}/signin", data={"password": "correct horse"}, allow_redirects=False, timeout=30)
        assert right.status_code == 303 and "HttpOnly" in right.headers["set-cookie"]
        cookie = f"crossboard_session={right.cookies['crossboard_session']}"
        assert requests.get(f"{base}/", headers={"Cookie": cookie}, timeout=30).status_code == 200
        assert websocket_status(port, cookie) == "open"
        assert websocket_status(port, "crossboard_session=1.forged") == "refused 403"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_session_token_is_signed_and_expires():
    from ui import gate

    token = gate.session_token()
    assert gate.valid_token(token)
    issued, signature = token.split(".")
    assert not gate.valid_token(f"{int(issued) + 1}.{signature}")               # another time, same signature
    assert not gate.valid_token(f"{issued}.{'0' * len(signature)}")
    assert not gate.valid_token(token, now=int(issued) + gate.SESSION_S + 1)
    assert not gate.valid_token(None) and not gate.valid_token("garbage")
    scope = {"headers": [(b"cookie", f"theme=dark; {gate.COOKIE}={token}".encode())]}
    assert gate.cookie_of(scope) == token and gate.cookie_of({"headers": [(b"cookie", b"\x00;;=")]}) is None


@pytest.mark.slow
def test_sigterm_to_crossboard_app_ends_its_server(home):
    port = free_port()
    proc = start_app(home, port, None)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while listening_addresses(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not listening_addresses(port), "the Streamlit server outlived crossboard app"


# --- a file on the server is read once, without following a link -----------------------------------------

def test_a_link_in_a_shared_folder_is_refused_and_a_swapped_one_never_leads_out(tmp_path):
    from automl.data.datasets import opened_server_file
    from automl.errors import DataError

    shared, outside = tmp_path / "shared", tmp_path / "outside"
    shared.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text("secret,1\n")
    (shared / "real.csv").write_text("public,1\n")
    (shared / "link.csv").symlink_to(outside / "secret.csv")
    (shared / "folder").symlink_to(outside, target_is_directory=True)
    for text, problem in [(shared / "link.csv", "link"), (shared / "folder" / "secret.csv", "link"),
                          (shared / ".." / "outside" / "secret.csv", "not in a folder this server shares"),
                          (shared / "missing.csv", "no file"), (shared, "not in a folder")]:
        with pytest.raises(DataError, match=problem), opened_server_file(str(text), [shared]):
            pass
    swapped, stop = shared / "swapped.csv", threading.Event()

    def swap() -> None:
        while not stop.is_set():
            for target in ("real", "link"):
                tmp = shared / f".{target}.tmp"
                tmp.unlink(missing_ok=True)
                if target == "real":
                    tmp.write_text("public,1\n")
                else:
                    tmp.symlink_to(outside / "secret.csv")
                tmp.replace(swapped)

    swapper = threading.Thread(target=swap)
    swapper.start()
    read = []
    try:
        for _ in range(1000):
            try:
                with opened_server_file(str(swapped), [shared]) as (path, _):
                    read.append(path.read_text())
            except DataError:
                continue
    finally:
        stop.set()
        swapper.join()
    assert read and all("secret" not in text for text in read)


# --- text from users and data reaches the page as text ------------------------------------------------------

HOSTILE_NAMES = ["https://evil.example.com/x", "www.evil.example", "mail me@evil.example", "[x](http://a.b)",
                 "<script>alert(1)</script>", "**bold** _it_ `code` # head"]


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's Chromium is not installed")
def test_names_shown_as_markdown_make_no_link_no_markup_and_read_as_typed(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    script = tmp_path / "names.py"
    script.write_text("import streamlit as st\nfrom ui.common import plain\n"
                      f"for name in {HOSTILE_NAMES!r}:\n    st.caption(f'on **{{plain(name)}}** ok')\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    page.goto(f"http://127.0.0.1:{port}")
                    break
                except sync_api.Error:
                    time.sleep(0.5)
            page.wait_for_selector("[data-testid=stCaptionContainer]", timeout=60_000)
            page.wait_for_timeout(1000)
            shown = [c.inner_text().replace("\u2060", "") for c in page.query_selector_all(
                "[data-testid=stCaptionContainer]")]
            links = [a.get_attribute("href") for a in page.query_selector_all("[data-testid=stCaptionContainer] a")]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert shown == [f"on {name} ok" for name in HOSTILE_NAMES] and links == []


def test_the_consensus_table_shows_field_names_as_typed():
    from ui.diagnostics_page import consensus_table

    table = consensus_table([{"fields": ["<script>", "a&b"], "strength": 0.5, "low": 0.4, "high": 0.6, "models": 2}])
    assert table["pair"].tolist() == ["<script> × a&b"]


def test_a_signed_in_session_uploads_within_the_cap_and_the_count(monkeypatch):
    import asyncio

    from ui import gate

    passed = []

    async def app(scope, receive, send):
        passed.append(scope["path"])
        await gate.respond(send, 204, "")

    async def call(middleware, path: str, method: str = "PUT", length: int | None = 10, cookie: str | None = None):
        headers = ([(b"content-length", str(length).encode())] if length is not None else [])
        headers += [(b"cookie", f"{gate.COOKIE}={cookie}".encode())] if cookie else []
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)
        await middleware({"type": "http", "path": path, "method": method, "headers": headers,
                          "client": ("127.0.0.1", 1)}, receive, send)
        return sent[0]["status"]

    monkeypatch.setattr(gate, "MAX_UPLOADS", 3)
    middleware = gate.SignInGate(app, "pw", max_upload_bytes=100)
    token, upload = gate.session_token(), "/_stcore/upload_file/s/f"
    assert asyncio.run(call(middleware, upload)) == 401                      # no session: nothing passes
    assert asyncio.run(call(middleware, upload, length=101, cookie=token)) == 413
    assert asyncio.run(call(middleware, upload, length=None, cookie=token)) == 413
    assert [asyncio.run(call(middleware, upload, cookie=token)) for _ in range(4)] == [204, 204, 204, 429]
    assert asyncio.run(call(middleware, "/", method="GET", cookie=token)) == 204
    assert passed == [upload] * 3 + ["/"]
