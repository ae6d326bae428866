"""A headerless file in a real browser: MovieLens' u.data layout (a generated look-alike) uploaded with the
Data page's default options is read without a header, says so, gets user / item / rating / timestamp and saves
as a rating dataset."""

from __future__ import annotations

import json
import re

import pytest
from test_browser import browser_page, pytestmark, server, settle, shoot  # noqa: F401 - server: a fixture
from test_cli_implicit import ratings_tsv


def test_a_headerless_upload_is_read_right_with_the_default_options(server, tmp_path):  # noqa: F811
    sync_api = pytest.importorskip("playwright.sync_api")
    from storage import Store

    base, url, _ = server
    path = tmp_path / "u.data"
    ratings_tsv(path)
    with browser_page(tmp_path, "data-failure") as page:
        page.goto(f"{base}/data")
        settle(page, timeout=120_000)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
        page.get_by_text("Columns and roles").wait_for()
        settle(page)
        main = page.locator("[data-testid='stMain']")
        main.get_by_text(re.compile("read without a header line")).first.wait_for()
        sync_api.expect(main.get_by_text(re.compile("no label column", re.IGNORECASE))).to_have_count(0)
        shoot(page, tmp_path, "data-headerless")
        page.get_by_role("button", name="Save dataset").click()
        page.get_by_text("Saved dataset").wait_for()
    dataset = Store(url).find_dataset("u")
    roles = {c["name"]: c["role"] for c in json.loads(dataset.schema_json)["columns"]}
    assert roles == {"user_id": "user", "item_id": "item", "rating": "label", "timestamp": "timestamp"}
    assert json.loads(dataset.schema_json)["task"] == "rating"
