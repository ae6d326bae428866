"""A split the user brings: a ``split`` column, or separate validation and test files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cli_helpers import crossboard

from automl.data.datasets import inspect, save
from automl.data.demo import demo_frame
from automl.data.infer_schema import infer_schema
from automl.data.validate import validate
from automl.errors import DataError
from automl.features.prepare import make_assignment, stored_split
from automl.features.splits import TEST, TRAIN, VAL


def with_parts(frame: pd.DataFrame, parts: list[str], column: str = "split") -> pd.DataFrame:
    return frame.assign(**{column: np.resize(parts, len(frame))})


def test_a_column_naming_each_rows_part_is_inferred_as_the_split():
    frame = with_parts(demo_frame(n_rows=300, n_users=20, n_items=15), ["train"] * 8 + ["Valid", "TEST"], "fold")
    schema = infer_schema(frame)
    assert schema.column("fold").role == "split"
    assert "given split" in schema.column("fold").reason


def test_the_given_split_is_kept_row_for_row():
    frame = with_parts(demo_frame(n_rows=400, n_users=20, n_items=15), ["train"] * 7 + ["valid", "test", "test"])
    schema = infer_schema(frame)
    assignment, method = make_assignment(frame, schema)
    expected = frame["split"].map({"train": TRAIN, "valid": VAL, "test": TEST}).to_numpy()
    assert method == "given" and np.array_equal(assignment, expected)


@pytest.mark.parametrize("in_time", [False, True])
def test_without_validation_rows_they_come_from_training_as_the_test_rows_did(in_time):
    frame = demo_frame(n_rows=600, n_users=20, n_items=15)
    times = pd.to_datetime(frame["timestamp"])
    if in_time:                             # the test rows are the newest fifth: validation is taken in time too
        frame["split"] = np.where(times >= times.quantile(0.8), "test", "train")
    else:                                   # a random test split (MovieLens' u1.test): validation at random
        frame = with_parts(frame, ["train"] * 4 + ["test"])
    schema = infer_schema(frame)
    assert any("no validation rows" in w for w in validate(frame, schema))
    assignment, method = make_assignment(frame, schema)
    test = frame["split"].to_numpy() == "test"
    assert "taken from the training rows" in method
    assert np.array_equal(assignment == TEST, test)
    assert (assignment[~test] == VAL).sum() == round((~test).sum() / 9)      # a ninth of the training rows
    newest = times[assignment == VAL].min() >= times[assignment == TRAIN].max()
    assert newest == in_time


def test_a_split_value_that_names_no_part_is_refused_with_its_row():
    frame = with_parts(demo_frame(n_rows=200, n_users=20, n_items=15), ["train", "test"])
    schema = infer_schema(frame)
    frame.loc[5, "split"] = "holdout"
    with pytest.raises(DataError, match=r"row 6 holds 'holdout'"):
        validate(frame, schema)
    frame["split"] = "train"
    with pytest.raises(DataError, match="no test rows"):
        validate(frame, schema)


def test_separate_files_are_joined_and_every_study_keeps_their_split(home, tmp_path, store):
    frame = demo_frame(n_rows=900, n_users=40, n_items=30)
    paths = {}
    for part, rows in (("train", frame.iloc[:700]), ("valid", frame.iloc[700:800]), ("test", frame.iloc[800:])):
        paths[part] = tmp_path / f"{part}.csv"
        rows.to_csv(paths[part], index=False)
    done = crossboard(home, "ingest", str(paths["train"]), "--valid", str(paths["valid"]), "--test",
                      str(paths["test"]), "--name", "given")
    assert done.returncode == 0, done.stderr
    assert "split" in done.stdout and "joined" in done.stdout
    row = store.find_dataset("given")
    assert row.n_rows == 900
    assignment = stored_split(store, row, home)
    assert list(np.bincount(assignment, minlength=3)) == [700, 100, 100]
    assert (assignment[:700] == TRAIN).all() and (assignment[700:800] == VAL).all() and (assignment[800:] == TEST).all()


def test_a_part_with_other_columns_is_refused(tmp_path, store):
    frame = demo_frame(n_rows=300, n_users=20, n_items=15)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    frame.to_csv(train, index=False)
    frame.drop(columns=["price"]).to_csv(test, index=False)
    with pytest.raises(DataError, match="does not have the columns of train.csv: it differs in price"):
        inspect(train, parts={"test": (test, None)})
    frame.to_csv(test, index=False)
    inspection = inspect(train, parts={"test": (test, None)})
    saved = save(store, inspection, name="joined")
    assert saved.n_rows == 600 and inspection.schema.column("split").role == "split"
