"""Schema inference: label, task, roles and their reasons; timestamp parsing."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from automl.data.infer_schema import infer_schema, positive_value
from automl.data.schema import Schema
from automl.data.timestamps import parse_timestamps
from automl.errors import DataError, SettingsError


def _roles(schema: Schema) -> dict[str, str]:
    return {c.name: c.role for c in schema.columns}


def _ratings(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "row": np.arange(n),
        "userId": rng.integers(0, 300, n),
        "movie_id": rng.integers(0, 500, n),
        "rating": rng.integers(1, 6, n),
        "timestamp": rng.integers(874_724_710, 893_286_638, n),
        "genres": rng.choice(["Comedy|Drama", "Action", "Action|Thriller|War"], n),
        "price": rng.random(n) * 100,
        "age": rng.choice([18, 25, 35, 45], n),
        "views": rng.integers(0, 5000, n),
        "country": rng.integers(5000, 5080, n),
        "note": rng.choice(["this is a fairly long piece of free text written by somebody " + str(i)
                            for i in range(50)], n),
        "const": 7,
        "empty": np.nan,
    })


def test_rating_table_roles_and_reasons():
    frame = _ratings()
    schema = infer_schema(frame)
    assert schema.task == "rating" and schema.positive_label is None
    assert "rating" in schema.task_reason
    assert _roles(schema) == {
        "row": "ignore", "userId": "user", "movie_id": "item", "rating": "label", "timestamp": "timestamp",
        "genres": "sequence", "price": "numeric", "age": "categorical", "views": "numeric",
        "country": "categorical", "note": "ignore", "const": "ignore", "empty": "ignore",
    }
    assert schema.column("genres").delimiter == "|"
    n_users = frame["userId"].nunique()
    assert schema.column("userId").reason == f"name 'userId' looks like a user id; {n_users} distinct values"
    assert schema.column("row").reason == "every value is different (a row id) → ignored"
    assert schema.column("const").reason == "a single value in every row → ignored"
    assert schema.column("note").reason.startswith("long free text")
    assert "float values with 2,000 distinct values → numeric" == schema.column("price").reason
    assert "'|'-delimited lists → sequence" in schema.column("genres").reason


def test_column_info_counts_and_examples():
    frame = pd.DataFrame({"click": [0, 1, 0, 1], "city": ["a", None, "b", "a"], "x": [1.5, 2.0, np.nan, 3.0]})
    schema = infer_schema(frame)
    city = schema.column("city")
    assert (city.n_unique, city.n_missing, city.examples) == (2, 1, ["a", "b"])
    assert schema.column("x").examples == ["1.5", "2", "3"]
    assert schema.column("x").dtype == "float64"


@pytest.mark.parametrize(
    ("values", "positive"),
    [
        ([0, 1, 1, 0], "1"),
        ([-1, 1, 1, -1], "1"),
        ([True, False, True, False], "True"),
        (["yes", "no", "no", "yes"], "yes"),
        (["noclick", "click", "click", "noclick"], "click"),
        (["+1", "-1", "-1", "+1"], "1"),
    ],
)
def test_ctr_task_and_positive_label(values, positive):
    schema = infer_schema(pd.DataFrame({"clicked": values, "item": ["a", "b", "c", "a"]}))
    assert schema.task == "ctr"
    assert schema.positive_label == positive
    assert schema.label == "clicked"


def test_float_label_is_rating():
    schema = infer_schema(pd.DataFrame({"score": [0.5, 3.2, 4.0], "item": ["a", "b", "a"]}))
    assert schema.task == "rating"


def test_label_by_values_when_no_name_matches():
    frame = pd.DataFrame({"movie": ["a", "b", "c", "a"], "bought": [0, 1, 1, 0]})
    schema = infer_schema(frame)
    assert schema.label == "bought"
    assert schema.column("bought").reason == "only the values 0 and 1 → label"


def test_no_label_found():
    with pytest.raises(DataError, match=r"no label column found in .*shop, aisle.*--label COLUMN.*Data page"):
        infer_schema(pd.DataFrame({"shop": ["a", "b", "c"], "aisle": ["x", "y", "x"]}))


def test_no_label_but_user_and_item_is_implicit_feedback():
    schema = infer_schema(pd.DataFrame({"user_id": [1, 2, 3], "item_id": [4, 5, 6]}))
    assert schema.task == "implicit" and schema.label is None
    assert "no label column" in schema.task_reason and "implicit" in schema.task_reason
    with pytest.raises(DataError, match="no label column found"):
        infer_schema(pd.DataFrame({"user_id": [1, 2, 3], "item_id": [4, 5, 6]}), task="ctr")


def test_unknown_label_lists_columns():
    with pytest.raises(DataError, match=r"'nope' is not in the table; the columns are: a, click"):
        infer_schema(pd.DataFrame({"a": [1, 2], "click": [0, 1]}), label="nope")


def test_label_and_task_arguments():
    frame = pd.DataFrame({"stars": [1, 2, 5, 4], "click": [0, 1, 0, 1], "item_id": [1, 2, 1, 2]})
    schema = infer_schema(frame, label="stars", task="rating")
    assert schema.label == "stars" and schema.task == "rating"
    assert schema.task_reason == "set by you"
    assert _roles(schema)["click"] == "categorical"
    with pytest.raises(SettingsError, match="task 'auc' is unknown"):
        infer_schema(frame, task="auc")


def test_role_overrides_applied_last():
    frame = pd.DataFrame({"click": [0, 1, 0, 1], "like": [1, 1, 0, 0], "user_id": [1, 2, 1, 2],
                          "member": [5, 6, 7, 5], "tags": ["a b", "c", "d e", "f"]})
    schema = infer_schema(frame, roles={"like": "label", "member": "user", "tags": "sequence"})
    roles = _roles(schema)
    assert roles["like"] == "label" and roles["click"] == "categorical"
    assert roles["member"] == "user" and roles["user_id"] == "categorical"
    assert "you picked 'member' instead" in schema.column("user_id").reason
    assert schema.column("like").reason == "set by you"
    assert schema.task == "ctr" and schema.positive_label == "1"
    assert schema.column("tags").delimiter == " "


def test_one_user_and_item_column_by_name_priority():
    frame = pd.DataFrame({"click": [0, 1, 0], "customer_id": [1, 2, 3], "user_id": [1, 2, 2],
                          "product_id": [3, 4, 5], "item_id": [3, 3, 4]})
    roles = _roles(infer_schema(frame))
    assert roles["user_id"] == "user" and roles["customer_id"] == "categorical"
    assert roles["item_id"] == "item" and roles["product_id"] == "categorical"


@pytest.mark.parametrize(
    ("values", "delimiter"),
    [
        (["12^45^9", "3", "7^8"], "^"),
        (["12;45", "3;4", "7"], ";"),
        (["a,b", "c,d", "e"], ","),
        (["12 45 9", "3 1", "7"], " "),
    ],
)
def test_sequence_delimiters(values, delimiter):
    schema = infer_schema(pd.DataFrame({"click": [0, 1, 0], "hist": values}))
    assert schema.column("hist").role == "sequence"
    assert schema.column("hist").delimiter == delimiter


@pytest.mark.parametrize("values", [["Shawshank Redemption, The", "Heat", "Up"], ["Ed Wood", "Heat", "Up"]])
def test_titles_are_not_sequences(values):
    assert infer_schema(pd.DataFrame({"click": [0, 1, 0], "title": values})).column("title").role == "categorical"


def test_timestamp_needs_parseable_values():
    frame = pd.DataFrame({
        "click": [0, 1, 0, 1],
        "time": ["2017-05-06 00:00:00", "2017-05-06 00:00:01", "2017-05-07 10:00:00", "2017-05-08 00:00:00"],
        "date": ["x", "y", "z", "x"],
    })
    roles = _roles(infer_schema(frame))
    assert roles["time"] == "timestamp" and roles["date"] == "categorical"


def test_small_integers_named_like_time_are_not_timestamps():
    frame = pd.DataFrame({"click": [0, 1, 0, 1], "ts": [1, 2, 3, 4]})
    assert _roles(infer_schema(frame))["ts"] != "timestamp"


def test_millisecond_timestamp():
    frame = pd.DataFrame({"click": [0, 1], "event_time": [1_400_457_600_000, 1_400_457_601_000]})
    schema = infer_schema(frame)
    assert schema.column("event_time").role == "timestamp"
    assert "epoch milliseconds" in schema.column("event_time").reason


def test_empty_frame_is_refused():
    with pytest.raises(DataError, match="no rows"):
        infer_schema(pd.DataFrame({"click": []}))


def test_positive_value_rules():
    assert positive_value([0, 1]) == "1"
    assert positive_value([1, 2]) is None
    assert positive_value(["abc", "def"]) is None
    assert positive_value(["Yes", "No"]) == "Yes"
    assert positive_value([0, 1, 2]) is None


def test_fast_on_a_large_table():
    n = 1_000_000
    rng = np.random.default_rng(0)
    floats = rng.random(n)
    codes = pd.array(np.char.add("v", rng.integers(0, 1000, n).astype(str)), dtype="str")
    data = {"click": rng.integers(0, 2, n), "user_id": rng.integers(0, 100_000, n)}
    data |= {f"f{i}": floats for i in range(19)} | {f"c{i}": codes for i in range(19)}
    frame = pd.DataFrame(data)
    start = time.perf_counter()
    schema = infer_schema(frame)
    assert time.perf_counter() - start < 10
    assert schema.column("f0").role == "numeric" and schema.column("c0").role == "categorical"


# --- parse_timestamps -------------------------------------------------------------------------------


def test_parse_epoch_seconds_and_milliseconds():
    assert parse_timestamps(pd.Series([881250949, 891717742])).tolist() == [881250949, 891717742]
    ms = parse_timestamps(pd.Series([1_400_457_600_123, 1_400_457_601_000]))
    assert ms.dtype == np.int64 and ms.tolist() == [1_400_457_600, 1_400_457_601]


def test_parse_date_strings_and_datetimes():
    strings = pd.Series(["1970-01-02 00:00:00", "2017-05-06 00:00:01"])
    assert parse_timestamps(strings).tolist() == [86_400, 1_494_028_801]
    assert parse_timestamps(pd.to_datetime(strings)).tolist() == [86_400, 1_494_028_801]
    assert parse_timestamps(pd.Series(["881250949", "891717742"])).tolist() == [881250949, 891717742]


def test_parse_bad_timestamp_names_column_and_row():
    series = pd.Series(["2017-05-06", "2017-05-07", "soon"], name="when")
    with pytest.raises(DataError, match=r"timestamp column 'when' .* \(e\.g\. 'soon' in row 3\)"):
        parse_timestamps(series)


def test_parse_empty_timestamp_names_row():
    with pytest.raises(DataError, match=r"timestamp column 'ts' is empty in 1 row \(first: row 2\)"):
        parse_timestamps(pd.Series([881250949, None, 891717742], name="ts"))


# -- roles that know the field: row ids, integer codes against counts, compact times, free text --------

def _field_log(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    """Anonymised columns as the public CTR logs have them: a row id, integer codes with skewed
    frequencies, counts, a compact YYMMDDHH hour, titles."""
    rng = np.random.default_rng(seed)
    code_values = rng.choice(np.arange(10_000, 99_999), 400, replace=False)
    zipf = np.minimum(rng.zipf(1.3, n), 400) - 1
    hours = pd.Timestamp("2014-10-21") + pd.to_timedelta(rng.integers(0, 240, n), unit="h")
    return pd.DataFrame({
        "id": rng.permutation(n) * 7 + 10_000_000,
        "click": rng.integers(0, 2, n),
        "hour": hours.strftime("%y%m%d%H").astype(int),
        "feat_a": code_values[zipf],                          # codes: the frequent ones anywhere in the range
        "feat_b": rng.geometric(0.3, n) - 1,                  # counts: 0, 1, 2 … most frequent
        "C14": rng.choice(code_values[:50], n),               # an anonymised code by its name
        "I10": rng.integers(0, 4, n),                         # a Criteo count with few values
        "title": [f"Movie number {k} (19{k % 90 + 10})" for k in rng.integers(0, 3000, n)],
        "page_views": rng.integers(0, 5000, n),                # a quantity by its name
    })


def test_a_row_id_is_ignored_whatever_the_size_under_a_row_id_name():
    small = _field_log(200)
    assert _roles(infer_schema(small))["id"] == "ignore"
    assert _roles(infer_schema(_field_log()))["id"] == "ignore"
    reason = next(c.reason for c in infer_schema(small).columns if c.name == "id")
    assert "row id" in reason


def test_integer_codes_are_categorical_and_counts_numeric():
    roles = _roles(infer_schema(_field_log()))
    assert roles["feat_a"] == "categorical" and roles["C14"] == "categorical"
    assert roles["feat_b"] == "numeric" and roles["I10"] == "numeric" and roles["page_views"] == "numeric"
    reasons = {c.name: c.reason for c in infer_schema(_field_log()).columns}
    assert "codes" in reasons["feat_a"] and "set numeric" in reasons["feat_a"]


def test_a_compact_yymmddhh_hour_is_a_timestamp_and_parses_to_the_right_seconds():
    frame = _field_log()
    schema = infer_schema(frame)
    hour = schema.column("hour")
    assert hour.role == "timestamp" and hour.time_format == "%y%m%d%H" and "YYMMDDHH" in hour.reason
    seconds = parse_timestamps(frame["hour"], hour.time_format)
    expected = pd.to_datetime(frame["hour"].astype(str), format="%y%m%d%H", utc=True)
    assert (seconds == (expected - pd.Timestamp(0, tz="UTC")).dt.total_seconds().astype(np.int64)).all()
    assert seconds.min() >= pd.Timestamp("2014-10-21", tz="UTC").timestamp()
    days = pd.DataFrame({"date": [20141021, 20141022, 20141023] * 20, "y": [0, 1] * 30})
    assert infer_schema(days).column("date").time_format == "%Y%m%d"
    assert Schema.from_json(schema.to_json()).column("hour").time_format == "%y%m%d%H"


def test_a_column_set_as_timestamp_by_hand_gets_its_compact_format():
    frame = _field_log().rename(columns={"hour": "when_seen"})
    assert _roles(infer_schema(frame))["when_seen"] != "timestamp"             # no time-like name
    schema = infer_schema(frame, roles={"when_seen": "timestamp"})
    assert schema.column("when_seen").time_format == "%y%m%d%H"


def test_titles_are_free_text_and_ignored():
    column = next(c for c in infer_schema(_field_log()).columns if c.name == "title")
    assert column.role == "ignore" and "free text" in column.reason


def test_unsure_guesses_carry_their_alternative_and_the_cli_shows_it(tmp_path, monkeypatch, capsys):
    schema = infer_schema(_field_log())
    alternatives = {c.name: c.alternative for c in schema.columns}
    assert alternatives["feat_a"] == "numeric" and alternatives["feat_b"] == "categorical"
    assert alternatives["title"] == "categorical"
    assert alternatives["C14"] is None and alternatives["id"] is None and alternatives["page_views"] is None
    assert schema.with_roles({"feat_a": "numeric"}).column("feat_a").alternative is None
    from automl.cli import main

    path = tmp_path / "log.csv"
    _field_log().to_csv(path, index=False)
    monkeypatch.setenv("CROSSBOARD_DB", f"sqlite:///{tmp_path / 'cb.db'}")
    assert main(["--home", str(tmp_path), "ingest", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "[unsure: --role feat_a=numeric]" in printed and "[unsure: --role C14" not in printed
