"""Splits: temporal with a timestamp, stratified otherwise, stored once per dataset."""

from __future__ import annotations

import numpy as np
import pytest

from automl.errors import DataError
from automl.features.splits import TEST, TRAIN, VAL, make_split


def test_temporal_split_puts_the_newest_rows_in_test():
    rng = np.random.default_rng(1)
    times = rng.permutation(1000)
    assignment, method = make_split(rng.integers(0, 2, 1000).astype(float), "ctr", times)
    assert method == "temporal"
    assert times[assignment == TRAIN].max() < times[assignment == VAL].min()
    assert times[assignment == VAL].max() < times[assignment == TEST].min()
    assert np.bincount(assignment).tolist() == [800, 100, 100]


def test_stratified_split_keeps_the_positive_rate_and_is_deterministic():
    labels = (np.arange(2000) % 10 == 0).astype(float)
    first, method = make_split(labels, "ctr")
    again, _ = make_split(labels, "ctr")
    assert method == "stratified random" and np.array_equal(first, again)
    for part in (TRAIN, VAL, TEST):
        assert labels[first == part].mean() == pytest.approx(0.1, abs=0.01)


def test_too_few_rows_is_refused_with_a_reason():
    with pytest.raises(DataError, match="at least"):
        make_split(np.array([0.0, 1.0] * 5), "ctr")


def test_the_split_is_made_once_and_stored(store, home):
    from automl.data.datasets import inspect, save
    from automl.data.demo import demo_frame
    from automl.features.prepare import stored_split

    row = save(store, inspect(demo_frame(300, 30, 20).to_csv(index=False).encode(), "log.csv"))
    first = stored_split(store, row, home)
    (home / "datasets" / f"{row.id}.parquet").unlink()          # the stored split no longer needs the table
    assert np.array_equal(stored_split(store, row, home), first)
