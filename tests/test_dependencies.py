"""Dependencies between fields: exact and near many-to-one maps found on generated hierarchies, the trivial
ones (a constant target, a row-id source) left out, aliases named, and the maps kept in the encoded spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synth import HIERARCHY_ROLES, hierarchy_data, hierarchy_frame

from automl.features.dependencies import Dependency, compact, describe, field_dependencies
from models.spec import spec_from_dict, spec_to_dict


def found(frame: pd.DataFrame) -> dict[tuple[str, str], float]:
    columns = list(frame.columns)
    table = np.stack([compact(frame[c]) for c in columns], 1)
    return {(columns[d.source], columns[d.determined]): d.share for d in field_dependencies(table)}


def test_exact_and_near_maps_of_a_generated_hierarchy_and_nothing_else():
    frame = hierarchy_frame(20_000, noise=0.005).drop(columns=["click"])
    maps = found(frame)
    assert maps[("item_id", "category")] == 1.0 and maps[("ad_id", "campaign")] == 1.0
    assert 0.99 <= maps[("user_id", "segment")] < 1.0             # 0.5% of rows re-drawn: a near map
    assert set(maps) == {("item_id", "category"), ("ad_id", "campaign"), ("user_id", "segment")}


def test_a_map_broken_on_more_than_one_percent_of_rows_is_not_a_dependency():
    maps = found(hierarchy_frame(20_000, noise=0.05).drop(columns=["click"]))
    assert ("user_id", "segment") not in maps and ("item_id", "category") in maps


def test_a_constant_target_and_a_row_id_source_are_trivial_and_left_out():
    rng = np.random.default_rng(0)
    n = 5000
    frame = pd.DataFrame({"row": np.arange(n), "almost_constant": np.where(rng.random(n) < 0.995, "a", "b"),
                          "group": rng.integers(0, 50, n)})
    frame["parent"] = frame["group"] % 7
    maps = found(frame)
    assert maps == {("group", "parent"): 1.0}          # row -> anything and anything -> almost_constant: trivial


def test_an_alias_is_said_once_and_a_map_names_its_share():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 40, 3000)
    table = np.stack([codes, codes + 100, codes % 4], 1)
    deps = field_dependencies(table)
    assert {(d.source, d.determined) for d in deps} == {(0, 1), (1, 0), (0, 2), (1, 2)}
    lines = describe(deps, ["item", "item_name", "category"])
    assert lines.count("item and item_name are aliases: each determines the other (every row)") == 1
    assert "category is determined by item (every row)" in lines
    assert describe([Dependency(0, 1, 0.9971)], ["item", "category"]) == [
        "category is determined by item (99.7% of rows)"]


def test_missing_values_are_a_value_of_their_own():
    frame = pd.DataFrame({"item": np.arange(4000) % 200, "category": [None if i % 200 < 20 else f"c{i % 5}"
                                                                      for i in range(4000)]})
    assert found(frame) == {("item", "category"): 1.0}


def test_encoding_keeps_the_training_rows_maps_in_the_spec_and_old_specs_still_load():
    data = hierarchy_data()
    names = [f.name for f in data.spec.fields]
    maps = {(names[s], names[d]) for s, d, _ in data.spec.dependencies}
    assert maps == {("item_id", "category"), ("ad_id", "campaign"), ("user_id", "segment")}
    assert "hour" not in names and HIERARCHY_ROLES["hour"] == "numeric"      # a numeric column is no field here
    round_trip = spec_from_dict(spec_to_dict(data.spec))
    assert round_trip == data.spec
    old = spec_to_dict(data.spec)
    del old["dependencies"]
    assert spec_from_dict(old).dependencies == ()


@pytest.mark.parametrize("rows", [0, 1])
def test_tables_too_small_for_a_map(rows):
    assert field_dependencies(np.zeros((rows, 3), np.int64)) == []


def test_the_data_page_says_which_columns_determine_others(tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from ui.common import PAGES

    monkeypatch.setenv("CROSSBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CROSSBOARD_DB", f"sqlite:///{tmp_path / 'crossboard.db'}")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120).run()
    at.switch_page(PAGES["data"]).run()
    frame = hierarchy_frame(4000)
    at.file_uploader[0].set_value(("log.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    text = "\n".join(c.value for c in at.caption).replace("\\", "")       # shown as typed: markdown escaped
    assert "category is determined by item_id (every row)" in text
    assert "campaign is determined by ad_id (every row)" in text and "segment is determined by user_id (99." in text


def test_columns_of_lists_or_mixed_values_are_compared_as_text():
    frame = pd.DataFrame({"basket": [[1, 2], [3]] * 50, "size": [2, 1] * 50, "mixed": [12, "12"] * 50})
    assert found(frame) == {("basket", "size"): 1.0, ("size", "basket"): 1.0}
