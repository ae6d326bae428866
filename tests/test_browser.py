"""The real browser path: Streamlit server + headless Chromium (Playwright). Upload a CSV on the
Data page, save it, launch a small study (lr and fm, 3 trials, 2 epochs, 1 worker) and wait for
the leaderboard. Screenshots go to tmp_path and /tmp/crossboard-{data,new-study,study,leaderboard}.png."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]
ROOT = Path(__file__).resolve().parent.parent
STUDY_TIMEOUT_S = 240

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(base: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on {base} within {timeout:.0f} s")


def our_processes(marker: str) -> list[int]:
    """Pids of processes whose command line names this test's private data directory."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def stop_workers(url: str, home: Path) -> None:
    """Ask every study to stop, then end the worker processes this test caused (by pid)."""
    from storage import Store

    store = Store(url)
    pids = set(our_processes(str(home)))
    for study in store.studies():
        store.update_study(study.id, stop_requested=True)
        pids |= {w.pid for w in store.workers(study.id) if w.status in ("starting", "loading", "running")}
    deadline = time.monotonic() + 20
    while pids and time.monotonic() < deadline:
        pids = {pid for pid in pids if Path(f"/proc/{pid}").exists() and pid in our_processes(str(home))}
        time.sleep(0.5)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def server(tmp_path):
    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path / 'crossboard.db'}"
    env = {**os.environ, "CROSSBOARD_HOME": str(home), "CROSSBOARD_DB": url, "PYTHONUNBUFFERED": "1"}
    port = free_port()
    log = (tmp_path / "streamlit.log").open("wb")  # closed in the finally below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://localhost:{port}"
    try:
        wait_for_server(base, proc)
        yield base, url, home
    finally:
        stop_workers(url, home)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the app is connected and its script has stopped running."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)


def shoot(page, tmp_path: Path, name: str) -> Path:
    """A screenshot of the whole page (Streamlit scrolls inside its main block, so the viewport
    is made as tall as the content first)."""
    path = tmp_path / f"crossboard-{name}.png"
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\")?.scrollHeight || 0")
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], height), 5000)})
    time.sleep(0.5)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    shutil.copy(path, f"/tmp/crossboard-{name}.png")
    return path


@contextmanager
def browser_page(tmp_path: Path, failure: str = "failure"):
    """A headless Chromium page (1400 × 1000, 60 s timeouts); a screenshot named ``failure`` if the block raises."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            yield page
        except Exception:
            shoot(page, tmp_path, failure)
            raise
        finally:
            browser.close()


def test_upload_launch_and_leaderboard(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from automl.data.demo import demo_frame
    from storage import Store

    base, url, home = server
    csv = tmp_path / "browser-clicks.csv"
    demo_frame(n_rows=1500, n_users=60, n_items=40).to_csv(csv, index=False)

    with browser_page(tmp_path) as page:
        # Data: upload through the file chooser, check the roles, save.
        page.goto(f"{base}/data")
        settle(page, timeout=120_000)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(csv))
        page.get_by_text("Columns and roles").wait_for()
        settle(page)
        page.get_by_text("1,500 rows × 10 columns").wait_for()
        shoot(page, tmp_path, "data")
        page.get_by_role("button", name="Save dataset").click()
        page.get_by_text("Saved dataset").wait_for()
        assert Store(url).find_dataset("browser-clicks") is not None

        # New study: lr and fm, 3 trials, no time limit (the default is 12 minutes), 2 epochs, 1 worker.
        page.goto(f"{base}/new-study")
        settle(page)
        expect = sync_api.expect
        expect(page.get_by_role("combobox", name="Dataset")).to_have_value("browser-clicks (1,500 rows)")
        page.get_by_role("button", name="None", exact=True).click()
        expect(page.get_by_role("checkbox", name="lr", exact=True)).not_to_be_checked()
        expect(page.get_by_role("checkbox", name="deepfm", exact=True)).not_to_be_checked()
        settle(page)
        for model in ("lr", "fm"):
            box = page.get_by_role("checkbox", name=model, exact=True)
            page.locator("label").filter(has=box).click()
            expect(box).to_be_checked()
            settle(page)
        for label, value in (("Trials (0 = no limit)", "3"), ("Minutes (0 = no limit)", "0"),
                             ("Max epochs per trial", "2")):
            field = page.get_by_label(label)
            field.fill(value)
            field.press("Enter")
            settle(page)
        shoot(page, tmp_path, "new-study")
        page.get_by_role("button", name="Launch").click()
        page.wait_for_url("**/study?study=*")
        page.get_by_role("heading", name="Study").wait_for()

        store = Store(url)
        (study,) = store.studies()
        assert sorted(eval_models(study)) == ["fm", "lr"]
        deadline = time.monotonic() + STUDY_TIMEOUT_S
        while store.find_study(study.id).status not in ("finished", "stopped"):
            assert time.monotonic() < deadline, f"study not finished in {STUDY_TIMEOUT_S} s: {worker_logs(home)}"
            time.sleep(2)
        page.get_by_text("trials 3 of 3").wait_for(timeout=30_000)
        # the page reruns once the study ends: the Stop button goes, polling stops
        main = page.locator("[data-testid='stMain']")
        expect(main.get_by_role("button", name="Stop", exact=True)).to_have_count(0, timeout=30_000)
        main.get_by_role("heading", name=re.compile("finished")).wait_for()
        settle(page)
        shoot(page, tmp_path, "study")

        # Leaderboard: the verdict first (its paragraph, the standings and intervals in "Best per model", the tab
        # opened first), then every trial, then the search's history; only the open tab is drawn.
        page.goto(f"{base}/leaderboard?study={study.id}")
        settle(page)
        page.get_by_role("heading", name="Leaderboard").wait_for()
        page.get_by_text(re.compile("the best on validation|the only model judged")).first.wait_for()
        page.get_by_text(re.compile("^Protocol: ctr")).first.wait_for()
        page.get_by_text("GBDT").first.wait_for()
        page.get_by_text(re.compile("Test auc with 95% intervals")).first.wait_for()
        best_grid = page.locator("[data-testid='stDataFrame']").first.locator("[role='gridcell']")
        expect(best_grid.filter(has_text=re.compile("^leader$"))).to_have_count(1)
        page.get_by_text(re.compile("Holm-corrected over every pair")).first.wait_for()
        time.sleep(1)
        shoot(page, tmp_path, "leaderboard")
        page.get_by_role("tab", name="All trials").click()
        settle(page)
        grid = page.locator("[data-testid='stDataFrame']").first.locator("[role='gridcell']")
        expect(grid.filter(has_text=re.compile("^(lr|fm)$"))).to_have_count(3)  # one row per trial
        page.get_by_role("tab", name="Search history").click()
        settle(page)
        page.get_by_text("Optimization history").first.wait_for()       # one figure: the history and the bests
        chart_text = page.locator(".js-plotly-plot").first.inner_text()
        assert "lr" in chart_text and "fm" in chart_text
        shoot(page, tmp_path, "leaderboard-search")
        results = store.results(study.id)
        assert {r.model for r in results} == {"lr", "fm"} and len(results) == 3


def eval_models(study) -> list[str]:
    import json

    return json.loads(study.config_json)["models"]


def worker_logs(home: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted((home / "logs").glob("*.log")))
