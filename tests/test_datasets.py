"""Registering uploads: atomic, deduplicated, refused cleanly, fetchable through the URL alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.data import datasets
from automl.data.demo import DEMO_NAME, demo_frame, ensure_demo
from automl.data.schema import Schema
from automl.errors import DataError
from automl.search.capabilities import model_availability
from storage import Store

BAD_UPLOADS = {
    "empty.csv": b"",
    "header_only.csv": b"user,item,click\n",
    "garbage.bin": bytes(range(256)) * 40,
    "ragged.csv": b"user,item,click\n1,2,0\n1,2,1,9\n",
    "one_class.csv": b"user,item,click\n" + b"1,2,1\n" * 50,
    "text_label.csv": b"user,y\n" + b"1,abc\n2,def\n3,ghi\n" * 20,
    "nan_label.csv": b"user,click\n" + b"1,0\n2,1\n" * 20 + b"3,\n",
    "duplicate_names.csv": b"user,user,click\n1,2,0\n3,4,1\n",
}


@pytest.mark.parametrize("filename", list(BAD_UPLOADS))
def test_bad_uploads_are_refused_and_leave_the_database_unchanged(store, filename):
    with pytest.raises(DataError) as error:
        datasets.save(store, datasets.inspect(BAD_UPLOADS[filename], filename))
    assert str(error.value)
    assert store.datasets() == []


def test_identical_uploads_are_stored_once_and_names_stay_unique(store):
    csv = demo_frame(200, 20, 10).to_csv(index=False).encode()
    first = datasets.save(store, datasets.inspect(csv, "log.csv"))
    again = datasets.save(store, datasets.inspect(csv, "log.csv"))
    assert again.id == first.id and len(store.datasets()) == 1
    other = datasets.save(store, datasets.inspect(csv + b"\n", "log.csv"))
    assert other.name == "log-2"


def test_strange_column_names_survive_the_round_trip(store, home):
    names = ["user'; DROP TABLE cb_datasets; --", "<script>alert(1)</script>", 'say "hi"', "click"]
    frame = pd.DataFrame({names[0]: [f"u{i % 9}" for i in range(60)], names[1]: [i % 4 for i in range(60)],
                          names[2]: [f"x{i % 3}" for i in range(60)], "click": [i % 2 for i in range(60)]})
    row = datasets.save(store, datasets.inspect(frame.to_csv(index=False).encode(), "odd.csv"))
    assert list(datasets.load_frame(store, row, home).columns) == names
    assert datasets.schema_of(row).all_names() == names


def test_a_worker_elsewhere_fetches_the_table_through_the_database(store, tmp_path):
    row = ensure_demo(store, n_rows=500)
    assert row.name == DEMO_NAME and ensure_demo(store).id == row.id
    remote_home = tmp_path / "other-machine"
    frame = datasets.load_frame(Store(store.url), row, remote_home)
    assert len(frame) == 500 and (remote_home / "datasets" / f"{row.id}.parquet").exists()


def test_the_user_can_override_roles_before_saving(store):
    csv = demo_frame(200, 20, 10).to_csv(index=False).encode()
    inspection = datasets.inspect(csv, "log.csv")
    schema = inspection.schema.with_roles({"hour": "categorical", "price": "ignore"})
    row = datasets.save(store, inspection, schema)
    stored = datasets.schema_of(row)
    assert stored.column("hour").role == "categorical" and stored.column("price").reason == "set by you"


def test_a_schema_problem_is_reported_for_the_user_to_fix_before_saving(store):
    csv = b"user,done,click\n" + b"".join(f"u{i % 7},1,{i % 2}\n".encode() for i in range(60))
    inspection = datasets.inspect(csv, "log.csv", label="done")
    assert inspection.problem and "done" in inspection.problem      # one class: flagged, not raised
    with pytest.raises(DataError):
        datasets.save(store, inspection)
    fixed = inspection.schema.with_roles({"click": "label", "done": "ignore"})
    assert datasets.save(store, inspection, fixed).n_rows == 60


def test_history_models_are_offered_only_where_a_history_can_be_built(store):
    rng = np.random.default_rng(0)
    items = rng.integers(0, 30, 300)
    base = pd.DataFrame({"user_id": rng.integers(0, 20, 300), "item_id": items, "click": rng.integers(0, 2, 300),
                         "tags": ["|".join(f"t{k}" for k in rng.integers(0, 9, 3)) for _ in range(300)]})
    with_ids = base.assign(clicked_items=["|".join(str(k) for k in rng.integers(0, 30, 4)) for _ in range(300)])
    tags_only = datasets.save(store, datasets.inspect(base.to_csv(index=False).encode(), "tags.csv"))
    item_ids = datasets.save(store, datasets.inspect(with_ids.to_csv(index=False).encode(), "ids.csv"))
    assert Schema.from_json(tags_only.schema_json).item_history is None
    assert Schema.from_json(item_ids.schema_json).item_history == "clicked_items"
    offered = {row.name: model_availability(Schema.from_json(row.schema_json)) for row in (tags_only, item_ids)}
    assert offered["ids"]["din"] is None and offered["ids"]["bst"] is None
    assert "behavior history" in offered["tags"]["din"] and offered["tags"]["deepfm"] is None
