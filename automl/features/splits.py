"""Train/validation/test assignment, made once per dataset and stored.

The table's own split when it has a ``split`` column (a published benchmark's, or separate
files); otherwise temporal when the schema has a timestamp (oldest rows train, newest rows test),
else stratified random on the label for ``ctr`` and plain random for ``rating``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from sklearn.model_selection import train_test_split

from automl.data.schema import Schema
from automl.errors import DataError

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
MIN_ROWS = 30


def online_fractions(initial: float) -> tuple[float, float, float]:
    """The split of an online study (``automl.online``): the oldest ``initial`` share of the rows
    trains offline, its newest ninth (the share ``DEFAULT_FRACTIONS`` holds out) validates, and
    every later row is the stream, replayed window by window in time order."""
    val = initial * DEFAULT_FRACTIONS[1] / (DEFAULT_FRACTIONS[0] + DEFAULT_FRACTIONS[1])
    return (initial - val, val, 1.0 - initial)


def split_key(schema: Schema, fractions=DEFAULT_FRACTIONS, seed: int = 0) -> str:
    """Identifies a split: every choice that changes the rows split or how (task, label and its
    positive value, user, item, time), hashed."""
    timestamp = schema.names("timestamp")
    basis = {"label": schema.label, "timestamp": timestamp, "task": schema.task,
             "fractions": list(fractions), "seed": seed, "user": schema.names("user"), "item": schema.names("item"),
             "positive_label": schema.positive_label}
    if schema.names("split"):
        basis["split"] = schema.names("split")
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:32]


def make_split(labels: np.ndarray, task: str, timestamps: np.ndarray | None = None,
               fractions=DEFAULT_FRACTIONS, seed: int = 0) -> tuple[np.ndarray, str]:
    """-> (int8 [n] with 0 train / 1 val / 2 test, method name)."""
    n = len(labels)
    if n < MIN_ROWS:
        raise DataError(f"the table has {n} usable rows; CrossBoard needs at least {MIN_ROWS} to split it "
                        "into training, validation and test rows. Upload more rows.")
    n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
    assignment = np.zeros(n, dtype=np.int8)
    if timestamps is not None:
        order = np.argsort(timestamps, kind="stable")
        assignment[order[n - n_val - n_test: n - n_test]] = VAL
        assignment[order[n - n_test:]] = TEST
        return assignment, "temporal"
    rows = np.arange(n)
    stratify = labels if task == "ctr" and np.bincount(labels.astype(np.int64)).min() >= 3 else None
    rest, test = train_test_split(rows, test_size=n_test, random_state=seed, stratify=stratify)
    _, val = train_test_split(rest, test_size=n_val, random_state=seed + 1,
                                  stratify=None if stratify is None else labels[rest])
    assignment[val], assignment[test] = VAL, TEST
    return assignment, "stratified random" if stratify is not None else "random"


def split_counts(assignment: np.ndarray) -> dict[str, int]:
    counts = np.bincount(assignment, minlength=3)
    return {name: int(counts[i]) for i, name in enumerate(SPLIT_NAMES)}



def given_split(parts: np.ndarray, labels: np.ndarray, task: str, timestamps: np.ndarray | None = None,
                fractions=DEFAULT_FRACTIONS, seed: int = 0) -> tuple[np.ndarray, str]:
    """The table's own split: ``parts`` [n] of "train" / "val" / "test" -> (int8 [n], method).
    Without validation rows, fractions[1] / (fractions[0] + fractions[1]) of the training rows
    become validation, held out the way the test rows were: the newest when every test row is
    newer than every training row (a split in time), else a (stratified) random share. The test
    rows are never touched."""
    assignment = np.select([parts == "val", parts == "test"], [VAL, TEST], TRAIN).astype(np.int8)
    if (assignment == VAL).any():
        return assignment, "given"
    train = np.flatnonzero(assignment == TRAIN)
    n_val = round(len(train) * fractions[1] / (fractions[0] + fractions[1]))
    if len(train) < MIN_ROWS or n_val < 1:
        raise DataError(f"the given split has {len(train)} training rows and no validation rows; CrossBoard needs "
                        f"at least {MIN_ROWS} training rows to hold some out for validation. Add validation rows.")
    test = assignment == TEST
    if timestamps is not None and timestamps[test].min() >= timestamps[train].max():
        val = train[np.argsort(timestamps[train], kind="stable")[-n_val:]]
    else:
        y = labels[train]
        stratify = y if task == "ctr" and np.bincount(y.astype(np.int64)).min() >= 3 else None
        _, val = train_test_split(train, test_size=n_val, random_state=seed, stratify=stratify)
    assignment[val] = VAL
    return assignment, "given (validation taken from the training rows)"
