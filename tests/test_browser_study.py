"""The Study page of an online study in a real browser: progress names every phase (trials, diagnostics,
online replays, each with its done / total and what runs in it), and Stop ends the replays within
seconds, the page then saying "stopped" and nothing running."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from test_browser import CHROMIUM, browser_page, server, settle, shoot, worker_logs  # noqa: F401 - server: a fixture

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Debian's Chromium is not installed at {CHROMIUM}")]

STOP_WITHIN_S = 30


def test_the_study_page_names_each_phase_and_stop_ends_an_online_study(server, tmp_path):  # noqa: F811
    sync_api = pytest.importorskip("playwright.sync_api")
    from automl.data import datasets
    from automl.data.demo import drifting_frame
    from automl.search.config import StudyConfig
    from automl.search.control import launch_workers
    from automl.search.study import create_study
    from storage import Store

    base, url, home = server
    store = Store(url)
    frame = drifting_frame(20_000, seed=3)
    dataset = datasets.save(store, datasets.inspect(frame.to_csv(index=False).encode(), "stream.csv"))
    config = StudyConfig(models=["lr", "fm"], n_trials=2, max_epochs=1, seeds=0, workers=1,
                         online={"initial": 0.3, "window_rows": 100})
    study = create_study(store, dataset, config, name="live")
    launch_workers(url, study.id, home, 1)

    with browser_page(tmp_path, "study-failure") as page:
        page.goto(f"{base}/study?study={study.id}")
        settle(page, timeout=120_000)
        main = page.locator("[data-testid='stMain']")
        main.get_by_text(re.compile(r"^trials \d of 2")).first.wait_for()
        main.get_by_text(re.compile(r"^diagnostics \d")).first.wait_for()
        main.get_by_text(re.compile(r"^online replays \d+ of \d+ · now: \w+ \w+")).first.wait_for(timeout=240_000)
        shoot(page, tmp_path, "study-online")
        main.get_by_role("button", name="Stop", exact=True).click()
        asked = time.monotonic()
        main.get_by_role("heading", name=re.compile("stopped")).wait_for(timeout=STOP_WITHIN_S * 1000)
        assert time.monotonic() - asked < STOP_WITHIN_S, worker_logs(home)
        sync_api.expect(main.get_by_text(re.compile("now: "))).to_have_count(0)
        main.get_by_text("Nothing is running.").wait_for()
        shoot(page, tmp_path, "study-stopped")
    states = {r.state for r in store.online_runs(study.id)}
    assert "stopped" in states and "running" not in states
