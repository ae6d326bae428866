"""Validation of a table against a Schema, and the label vector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.data import validate as validation
from automl.data.infer_schema import infer_schema
from automl.data.schema import ColumnInfo, Schema
from automl.data.validate import label_vector, validate
from automl.errors import DataError


def _schema(task: str, roles: dict[str, str], positive: str | None = None, **delimiters: str) -> Schema:
    columns = [ColumnInfo(name, role, "test", delimiter=delimiters.get(name)) for name, role in roles.items()]
    return Schema(task, "test", columns, positive)


def _ctr_frame(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"click": [0, 1] * (n // 2), "item_id": list(range(n))})


CTR = {"click": "label", "item_id": "item"}


def test_valid_table_has_no_warnings():
    assert validate(_ctr_frame(), _schema("ctr", CTR, "1")) == []


def test_no_label_column():
    with pytest.raises(DataError, match=r"no label column is set for 'x\.csv'"):
        validate(_ctr_frame(), _schema("ctr", {"click": "categorical", "item_id": "item"}), "'x.csv'")


def test_schema_column_missing_from_table():
    with pytest.raises(DataError, match=r"has no column 'price'"):
        validate(_ctr_frame(), _schema("ctr", CTR | {"price": "numeric"}, "1"))


@pytest.mark.parametrize("empty", [np.nan, None])
def test_label_missing_names_count_and_first_row(empty):
    frame = _ctr_frame(20).astype({"click": object})
    frame.loc[[4, 9, 11], "click"] = empty
    with pytest.raises(DataError, match=r"label 'click' is empty in 3 rows \(first: row 5\); drop or fill"):
        validate(frame, _schema("ctr", CTR, "1"))


def test_blank_text_label_counts_as_empty():
    frame = pd.DataFrame({"click": ["yes", " ", "no"], "item_id": [1, 2, 3]})
    with pytest.raises(DataError, match=r"empty in 1 row \(first: row 2\)"):
        validate(frame, _schema("ctr", CTR, "yes"))


def test_one_class_label():
    frame = pd.DataFrame({"click": [1] * 500, "item_id": range(500)})
    with pytest.raises(DataError, match=r"label 'click' is 1 in all 500 rows; a CTR task needs both positive and"):
        validate(frame, _schema("ctr", CTR, "1"))


def test_text_label_that_is_not_boolean_like():
    frame = pd.DataFrame({"y": ["abc", "def", "abc"], "item_id": [1, 2, 3]})
    with pytest.raises(DataError, match=r"label 'y' holds 'abc', 'def'; a CTR label must be two classes"):
        validate(frame, _schema("ctr", {"y": "label", "item_id": "item"}))


def test_two_text_classes_with_a_chosen_positive_are_fine():
    frame = pd.DataFrame({"y": ["buy", "view", "view"], "item_id": [1, 2, 3]})
    schema = _schema("ctr", {"y": "label", "item_id": "item"}, "buy")
    assert validate(frame, schema) == []
    assert label_vector(frame, schema).tolist() == [1.0, 0.0, 0.0]


def test_ctr_with_many_numeric_classes_suggests_rating():
    frame = pd.DataFrame({"rating": [1, 2, 3, 4], "item_id": [1, 2, 3, 4]})
    with pytest.raises(DataError, match=r"label 'rating' has more than two values.*set the task to rating"):
        validate(frame, _schema("ctr", {"rating": "label", "item_id": "item"}))


def test_rating_label_not_numeric_names_row():
    frame = pd.DataFrame({"rating": ["4", "5", "good", "1"], "item_id": [1, 2, 3, 4]})
    with pytest.raises(DataError, match=r"label 'rating' is not numeric \(e\.g\. 'good' in row 3\)"):
        validate(frame, _schema("rating", {"rating": "label", "item_id": "item"}))


def test_numeric_column_mostly_text():
    frame = pd.DataFrame({"click": [0, 1, 0, 1], "item_id": [1, 2, 3, 4], "price": ["1.5", "x", "abc", "zz"]})
    with pytest.raises(
        DataError, match=r"column 'price' is set as numeric but 75% of its values are not numbers \(e\.g\. 'x' in row 2\)"
    ):
        validate(frame, _schema("ctr", CTR | {"price": "numeric"}, "1"))


def test_numeric_column_with_a_few_bad_values_warns():
    frame = pd.DataFrame({"click": [0, 1, 0, 1], "item_id": [1, 2, 3, 4], "price": ["1.5", "2", "", "oops"]})
    warnings = validate(frame, _schema("ctr", CTR | {"price": "numeric"}, "1"))
    assert warnings == ["column 'price': 1 value is not a number (e.g. 'oops' in row 4); they count as missing."]


@pytest.mark.parametrize("role", ["user", "item", "label"])
def test_more_than_one_user_item_or_label(role):
    frame = pd.DataFrame({"click": [0, 1], "a": [1, 2], "b": [3, 4], "c": [5, 6]})
    roles = {"click": "label", "a": role, "b": role, "c": "categorical"}
    with pytest.raises(DataError, match=rf"more than one {role} column \(.*'b'\)"):
        validate(frame, _schema("ctr", roles, "1"))


def test_unparseable_timestamp():
    frame = _ctr_frame(4).assign(ts=["2020-01-01", "2020-01-02", "later", "2020-01-04"])
    with pytest.raises(DataError, match=r"timestamp column 'ts' .*'later' in row 3"):
        validate(frame, _schema("ctr", CTR | {"ts": "timestamp"}, "1"))


def test_no_feature_column():
    frame = _ctr_frame(4).assign(ts=[1, 2, 3, 4])
    with pytest.raises(DataError, match=r"no feature column left in 'f\.csv'"):
        validate(frame, _schema("ctr", {"click": "label", "item_id": "ignore", "ts": "timestamp"}, "1"), "'f.csv'")


def test_sequence_without_delimiter():
    frame = _ctr_frame(4).assign(hist=["1|2", "3", "4|5", "6"])
    with pytest.raises(DataError, match=r"column 'hist' is set as sequence but has no delimiter"):
        validate(frame, _schema("ctr", CTR | {"hist": "sequence"}, "1"))
    assert validate(frame, _schema("ctr", CTR | {"hist": "sequence"}, "1", hist="|")) == []


def test_huge_vocabulary_warns(monkeypatch):
    monkeypatch.setattr(validation, "MAX_VOCABULARY", 5)
    warnings = validate(_ctr_frame(10), _schema("ctr", CTR, "1"))
    assert len(warnings) == 1
    assert "column 'item_id' has 10 distinct values" in warnings[0]
    assert "share the out-of-vocabulary index" in warnings[0]


def test_rare_positives_warn():
    frame = pd.DataFrame({"click": [1] + [0] * 1999, "item_id": range(2000)})
    warnings = validate(frame, _schema("ctr", CTR, "1"))
    expected = (
        "only 0.050% of rows are positive (label 'click' = 1); AUC and logloss will be noisy: add positive "
        "rows if you can."
    )
    assert warnings == [expected]


# --- label_vector ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [
        ([0, 1, 1], "1", [0, 1, 1]),
        (["1", "1.0", "+1", "-1", "0"], "1", [1, 1, 1, 0, 0]),
        ([-1.0, 1.0], "1", [0, 1]),
        ([True, False], "True", [1, 0]),
        (["Yes", "no", "yes"], "yes", [1, 0, 1]),
    ],
)
def test_label_vector_ctr_compares_as_text(values, positive, expected):
    frame = pd.DataFrame({"click": values})
    vector = label_vector(frame, _schema("ctr", {"click": "label"}, positive))
    assert vector.dtype == np.float32
    assert vector.tolist() == expected


def test_label_vector_rating():
    frame = pd.DataFrame({"rating": [1, 5, 3]})
    vector = label_vector(frame, _schema("rating", {"rating": "label"}))
    assert vector.dtype == np.float32 and vector.tolist() == [1.0, 5.0, 3.0]


def test_inferred_schema_validates():
    frame = pd.DataFrame({
        "clk": [0, 1, 0, 1, 0, 0],
        "user_id": [1, 2, 1, 3, 2, 1],
        "hist": ["1^2", "3", "", "2^3^4", "1", "5"],
        "time_stamp": pd.date_range("2017-05-06", periods=6, freq="h").astype(str),
    })
    schema = infer_schema(frame)
    assert validate(frame, schema, "'s.csv'") == []
    assert label_vector(frame, schema).tolist() == [0, 1, 0, 1, 0, 0]
