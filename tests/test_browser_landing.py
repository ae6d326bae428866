"""The first screens in a real browser: the app opens on the landing page, its four steps link to their pages,
and the demo-study button launches a study whose Study page shows it running (then it is stopped). Screenshots
go to tmp_path and /tmp/crossboard-{landing,demo-study}.png."""

from __future__ import annotations

import re

import pytest
from test_browser import CHROMIUM, browser_page, pytestmark, server, settle, shoot, worker_logs  # noqa: F401

RUNNING_TIMEOUT_S = 180


def test_the_landing_page_launches_the_demo_study(server, tmp_path):  # noqa: F811 (the imported fixture)
    sync_api = pytest.importorskip("playwright.sync_api")
    from storage import Store

    base, url, home = server
    with browser_page(tmp_path) as page:
        page.goto(base)
        settle(page, timeout=120_000)
        main = page.locator("[data-testid='stMain']")
        main.get_by_role("heading", name="CrossBoard").wait_for()
        for step in ("1. Upload data", "2. Check roles", "3. Launch a study", "4. Read the results"):
            main.get_by_text(step).wait_for()
        for label in ("New study", "Leaderboard", "Diagnostics"):
            sync_api.expect(main.get_by_role("link", name=label)).to_be_visible()
        main.get_by_text(re.compile("^None yet")).wait_for()
        shoot(page, tmp_path, "landing")

        page.get_by_role("button", name=re.compile("demo study")).click()
        page.wait_for_url("**/study?study=*")
        page.get_by_role("heading", name="Study").wait_for()
        (study,) = Store(url).studies()
        main.get_by_role("heading", name=re.compile("running")).wait_for(timeout=RUNNING_TIMEOUT_S * 1000)
        settle(page)
        shoot(page, tmp_path, "demo-study")
        assert Store(url).find_study(study.id).status == "running", worker_logs(home)
