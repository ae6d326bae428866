"""A newcomer's first read: headerless files (MovieLens' u.data and ratings.dat among them) read right
with the default options and a note that says so, no header taken for data, the user and the item
proposed from the values when no name gives them, and Data page errors that name the control to use.
Every file here is a generated look-alike."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import crossboard
from streamlit.testing.v1 import AppTest

from automl.data.datasets import inspect
from automl.data.infer_schema import NoLabelError, infer_schema
from automl.data.read import read_table
from automl.data.schema import Schema
from automl.data.stream import _StandInFile
from storage import Store
from ui.common import PAGES

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def ratings_lines(n: int = 3000, sep: str = "\t", seed: int = 0) -> list[str]:
    """MovieLens-style rating rows: user, item, a rating of 1 to 5, epoch seconds of 1997-98."""
    rng = np.random.default_rng(seed)
    users, items = rng.integers(1, 944, n), rng.integers(1, 1683, n)
    stars, times = rng.integers(1, 6, n), rng.integers(874_724_710, 893_286_638, n)
    return [sep.join(map(str, row)) for row in zip(users, items, stars, times, strict=True)]


def news_log(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Readers (ids seen across the month) opening stories; each story has one topic; a screen per view."""
    rng = np.random.default_rng(seed)
    topics = np.array(["sports", "politics", "tech", "culture", "health", "science", "travel", "food", "music",
                       "film", "money", "weather"])
    story_topic = rng.integers(0, len(topics), 400)
    reader, story = rng.integers(0, 300, n), rng.integers(0, 400, n)
    return pd.DataFrame({
        "reader": [f"r{r:04d}" for r in reader], "story": 10_000 + story, "topic": topics[story_topic[story]],
        "seen_at": 1_700_000_000 + np.sort(rng.integers(0, 30 * 86_400, n)), "opened": rng.integers(0, 2, n),
        "screen": rng.choice(["phone", "tablet", "desktop"], n),
    })


def roles(schema) -> dict[str, str]:
    return {c.name: c.role for c in schema.columns}


# --- headerless files ---------------------------------------------------------------------------------------


def test_a_u_data_lookalike_gets_movielens_roles_and_a_note_with_the_default_options():
    lines = ratings_lines()
    inspection = inspect(("\n".join(lines) + "\n").encode(), "u.data")
    raw, schema = inspection.raw, inspection.schema
    assert not raw.header and raw.first_line == lines[0].split("\t") and len(raw.frame) == len(lines)
    assert roles(schema) == {"user_id": "user", "item_id": "item", "rating": "label", "timestamp": "timestamp"}
    assert schema.task == "rating" and inspection.problem is None
    (note,) = raw.notes
    assert note.startswith("read without a header line") and "looks like data, not column names" in note
    assert "MovieLens" in note and "--names" in note


def test_crossboard_ingest_reads_u_data_without_names_and_prints_the_note(home, tmp_path):
    path = tmp_path / "u.data"
    path.write_text("\n".join(ratings_lines(800)) + "\n")
    done = crossboard(home, "ingest", str(path), "--name", "ml")
    assert done.returncode == 0, done.stderr
    assert "800 rows, 4 columns" in done.stdout and "task rating" in done.stdout
    assert "note: read without a header line" in done.stdout and "looks like data" in done.stdout
    shown = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()[1:] if "  " in line[:4]
             and not line.strip().startswith("note:")}
    assert shown == {"user_id": "user", "item_id": "item", "rating": "label", "timestamp": "timestamp"}


@pytest.mark.parametrize("spooled", [False, True], ids=["in memory", "in blocks"])
def test_a_ratings_dat_lookalike_is_read_without_a_header_in_memory_and_in_blocks(tmp_path, spooled):
    lines = ratings_lines(sep="::", seed=1)
    path = tmp_path / "ratings.dat"
    path.write_text("\n".join(lines) + "\n")
    inspection = inspect(path, spool=tmp_path / "spool", memory_bytes=1000 if spooled else None)
    frame = inspection.raw.frame
    assert inspection.raw.delimiter == "::" and len(frame) == len(lines)
    assert roles(inspection.schema) == {"user_id": "user", "item_id": "item", "rating": "label",
                                        "timestamp": "timestamp"}
    first = [int(v) for v in lines[0].split("::")]
    assert [int(frame["user_id"][0]), int(frame["item_id"][0]), int(frame["timestamp"][0])] == \
        [first[0], first[1], first[3]]


def test_colons_split_between_blocks_are_replaced_as_in_memory(tmp_path):
    data = b"1::a:::b::::c\n2::d:e::f:\n::"
    path = tmp_path / "x.dat"
    path.write_bytes(data)
    for size in range(1, 12):
        with open(path, "rb") as f:
            stand_in, out = _StandInFile(f), b""
            while chunk := stand_in.read(size):
                out += chunk
        assert out == data.replace(b"::", b"\x1f"), size


def test_a_headerless_file_of_another_shape_gets_generic_names():
    rows = [f"{u},{i},{c}" for u, i, c in zip(range(50), range(100, 150), [0, 1] * 25, strict=True)]
    raw = read_table("\n".join(rows).encode(), "log.csv")
    assert list(raw.frame.columns) == ["column_1", "column_2", "column_3"] and len(raw.frame) == 50
    assert "column_1 to column_3" in raw.notes[0]


def test_hashed_codes_without_a_header_are_data():
    rng = np.random.default_rng(0)
    codes = [f"{v:08x}" for v in rng.integers(0, 2**32, 40)]
    rows = [f"{k % 2}\t{k * 3}\t{codes[k]}\t{codes[(k * 7) % 40]}" for k in range(40)]
    raw = read_table("\n".join(rows).encode(), "train.txt")
    assert not raw.header and len(raw.frame) == 40


@pytest.mark.parametrize("text", [
    "user,item,rating\nu1,i1,4\nu2,i2,5\n",
    "id,2019,2020\n1,3,4\n2,5,6\n",                      # years as names beside a name over numbers
    "country,2019,2020\nfr,3,4\nde,5,6\n",              # a name over text, years over numbers
    "label,C1,C2\n0,68fd1e64,80e26c9b\n1,fb936136,0b153874\n",
    "User ID,Movie Title\n1,Toy Story (1995)\n2,Heat (1995)\n",
    ",a,b\n0,1,2\n1,3,4\n",                               # pandas' index column: an empty header cell
], ids=["names", "years", "country-years", "criteo", "spaced", "index"])
def test_a_file_with_a_header_keeps_it(text):
    raw = read_table(text.encode(), "t.csv")
    assert raw.header and raw.first_line is None and len(raw.frame) == 2
    assert not any("looks like data" in n for n in raw.notes)


def test_names_that_repeat_the_first_line_read_it_as_the_header():
    raw = read_table(b"0,1,2\n5,6,7\n8,9,10\n", "t.csv")
    assert not raw.header and len(raw.frame) == 3
    again = read_table(b"0,1,2\n5,6,7\n8,9,10\n", "t.csv", names=raw.first_line)
    assert again.header and list(again.frame.columns) == ["0", "1", "2"] and len(again.frame) == 2


def test_given_names_still_read_the_first_line_as_data():
    raw = read_table(b"user,item\nu1,i1\nu2,i2\n", "t.csv", names=["a", "b"])
    assert not raw.header and raw.frame["a"].tolist() == ["user", "u1", "u2"]


# --- user and item from the values --------------------------------------------------------------------------


def test_a_news_log_gets_its_reader_as_user_and_its_story_as_item_unsure():
    schema = infer_schema(news_log())
    assert roles(schema) == {"reader": "user", "story": "item", "topic": "categorical", "seen_at": "timestamp",
                             "opened": "label", "screen": "categorical"}
    reader, story = schema.column("reader"), schema.column("story")
    assert (reader.alternative, story.alternative) == ("item", "user")
    assert "'topic'" in story.reason and "swap" in reader.reason
    implicit = infer_schema(news_log().drop(columns="opened"))
    assert implicit.task == "implicit" and implicit.names("user", "item") == ["reader", "story"]


def test_picking_the_guessed_user_as_item_swaps_the_pair():
    schema = infer_schema(news_log(), roles={"reader": "item"})
    assert roles(schema)["reader"] == "item" and roles(schema)["story"] == "user"


def test_names_that_say_user_and_item_keep_them():
    named = news_log().rename(columns={"reader": "user_id", "story": "item_id"})
    schema = infer_schema(named)
    assert schema.names("user", "item") == ["user_id", "item_id"]
    assert all(schema.column(c).alternative is None and "name" in schema.column(c).reason
               for c in ("user_id", "item_id"))
    half = infer_schema(news_log().rename(columns={"reader": "reader_id"}))
    assert roles(half)["reader_id"] == "user" and half.column("reader_id").alternative is None
    assert roles(half)["story"] == "item" and half.column("story").alternative == "categorical"


def test_a_table_of_many_codes_gets_no_user_or_item():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"click": rng.integers(0, 2, 3000),
                          **{f"f{j}": [f"v{v}" for v in rng.integers(0, 50 + 40 * j, 3000)] for j in range(6)}})
    assert not infer_schema(frame).names("user", "item")


def test_two_crossed_attributes_are_no_user_and_item():
    """A table of people (an age, an occupation per row): the pairs fill most of the grid, as no log does."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"column_1": rng.integers(7, 74, 943), "column_2": [f"job{j}" for j in rng.integers(0, 21, 943)],
                          "column_3": rng.integers(0, 2, 943)})
    assert not infer_schema(frame).names("user", "item")


def test_no_label_and_no_ids_names_the_columns_to_pick_from():
    with pytest.raises(NoLabelError) as error:
        infer_schema(pd.DataFrame({"shop": ["a", "b", "c"], "aisle": ["x", "y", "x"]}))
    assert error.value.columns == ["shop", "aisle"]


# --- the Data page ------------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    """The Data page, on a fresh home and database."""
    monkeypatch.setenv("CROSSBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CROSSBOARD_DB", f"sqlite:///{tmp_path / 'crossboard.db'}")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(PAGES["data"]).run()
    assert not at.exception, at.exception
    return at


def test_the_data_page_reads_u_data_as_is_and_offers_the_first_line_as_header(app):
    lines = ratings_lines(600)
    app.file_uploader[0].set_value(("u.data", ("\n".join(lines) + "\n").encode(), "text/tab-separated-values")).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any("looks like data" in i.value for i in app.info)
    assert app.selectbox(key=next(s.key for s in app.selectbox if s.key.startswith("task_"))).value == "rating"
    app.button(key="data_first_line_header").click().run()
    assert app.checkbox(key="data_headerless").value
    assert app.text_input(key="data_names").value == ", ".join(lines[0].split("\t"))
    assert not any("looks like data" in i.value for i in app.info)          # read again, the line as its header


def test_data_page_errors_name_the_control_and_go_when_the_options_change(app):
    frame = pd.DataFrame({"shop": ["a", "b", "c"] * 10, "aisle": ["x", "y", "x"] * 10, "bought": [0, 1, 1] * 10})
    upload = ("shops.csv", frame[["shop", "aisle"]].to_csv(index=False).encode(), "text/csv")
    app.file_uploader[0].set_value(upload).run()
    (error,) = app.error
    assert "no label column found" in error.value and "pick the label column below" in error.value
    app.file_uploader[0].set_value(("shops.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    assert not app.error
    app.text_input(key="data_label").input("nope").run()
    (error,) = app.error
    assert "'nope' is not in the table" in error.value
    app.selectbox(key="data_label_pick").set_value("bought").run()
    assert not app.error and app.text_input(key="data_label").value == "bought"
    app.checkbox(key="data_headerless").check().run()                       # not read until the names are typed
    assert not app.error and any("Type the column names" in i.value for i in app.info)
    app.text_input(key="data_names").input("a, b").run()
    (error,) = app.error
    assert "you gave 2 column names" in error.value and "Reading options" in error.value
    app.text_input(key="data_names").input("shop, aisle, bought").run()
    assert not app.error


def test_one_click_swaps_a_user_and_item_guessed_from_the_values(app):
    app.file_uploader[0].set_value(("news.csv", news_log(3000).to_csv(index=False).encode(), "text/csv")).run()
    (swap,) = [b for b in app.button if b.key and b.key.startswith("switch_")]
    assert swap.label == "swap reader (user) and story (item)"
    swap.click().run()
    assert not [b for b in app.button if b.key and b.key.startswith("switch_")]
    app.button(key="data_save").click().run()
    stored = Schema.from_json(Store(os.environ["CROSSBOARD_DB"]).find_dataset("news").schema_json)
    assert (stored.column("reader").role, stored.column("story").role) == ("item", "user")
