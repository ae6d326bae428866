"""The implicit top-K task, dataset side: which rows are positives, the leave-one-out split and the
evaluation candidates. Everything here is vectorised numpy; nothing loops over rows or users.

- Positives: every row of a table without a label; the rows whose label is the positive value
  when the label is two-class (a ctr table); every row of a rating table (having rated an item
  is the implicit signal, as in the NCF paper). A (user, item) pair is kept once, at its latest
  interaction, so a held-out item is never also a training positive of the same user.
- Split: per user with at least ``MIN_USER_ROWS`` positives, the latest one (by timestamp, ties
  and tables without time broken by a seeded random order) is the test item and the one before
  it the validation item; other users stay all-train.
- Candidates: for every validation / test row, ``n`` items the user never touched (in any
  split), sampled once with a fixed seed and cached with the encoded data; ``n = 0`` means
  ranking against the full item corpus instead (see ``automl.training.candidates``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from automl.data.schema import DEFAULT_CANDIDATES, Schema
from automl.data.timestamps import timestamps_of
from automl.data.validate import label_vector
from automl.errors import DataError
from automl.features.encode import EncodedData, EncodingOptions, encode
from automl.features.splits import TEST, TRAIN, VAL

MIN_USER_ROWS = 3           # users with fewer positives stay all-train
DEFAULT_NEG_RATIO = 4       # training negatives per positive, the default of the search
MAX_ROUNDS = 8              # rejection-sampling rounds before the exact fallback


def positive_rows(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The rows that count as positive interactions (see the module docstring), each (user,
    item) pair once at its latest time, in their original order."""
    user, item = schema.names("user")[0], schema.names("item")[0]
    keep = (frame[user].notna() & frame[item].notna()).to_numpy()
    if schema.label is not None and schema.positive_label is not None:
        keep = keep & (label_vector(frame, replace(schema, task="ctr")) == 1)
    rows = frame[keep]
    times = timestamps_of(rows, schema)
    order = np.argsort(times, kind="stable") if times is not None else np.arange(len(rows))
    pairs = rows.iloc[order][[user, item]].astype("string")
    latest = np.sort(order[~pairs.duplicated(keep="last").to_numpy()])
    return rows.iloc[latest].reset_index(drop=True)


def leave_one_out(users: np.ndarray, times: np.ndarray | None, seed: int = 0) -> tuple[np.ndarray, str]:
    """users [n] int64 ids, times [n] seconds or None -> (int8 [n] assignment 0 train / 1 val /
    2 test, method name). Ties in time are broken by a seeded random order."""
    n = len(users)
    tiebreak = np.random.default_rng(seed).random(n)
    order = np.lexsort((tiebreak, times if times is not None else np.zeros(n), users))
    sorted_users = users[order]
    counts = np.bincount(sorted_users)[sorted_users]                     # the row's user's positives
    last = np.r_[sorted_users[1:] != sorted_users[:-1], True]             # latest row of its user
    before_last = np.r_[last[1:], False] & ~last
    assignment = np.full(n, TRAIN, np.int8)
    eligible = counts >= MIN_USER_ROWS
    assignment[order[last & eligible]] = TEST
    assignment[order[before_last & eligible]] = VAL
    if not (assignment == TEST).any():
        raise DataError(f"no user has {MIN_USER_ROWS} or more interactions, so none can hold out a "
                        "validation and a test item; upload a longer interaction log.")
    return assignment, "leave-one-out (" + ("latest by timestamp" if times is not None else "random") + ")"


def contains(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Whether each query (any shape) is in the sorted int64 array ``sorted_keys``."""
    if len(sorted_keys) == 0:
        return np.zeros(queries.shape, bool)
    pos = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return sorted_keys[pos] == queries


def first_occurrences(draws: np.ndarray) -> np.ndarray:
    """bool [U, m]: True where a value appears for the first time in its row."""
    order = np.argsort(draws, axis=1, kind="stable")
    ordered = np.take_along_axis(draws, order, axis=1)
    first_sorted = np.c_[np.ones(len(draws), bool), ordered[:, 1:] != ordered[:, :-1]]
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, order, first_sorted, axis=1)
    return first


def sample_candidates(users: np.ndarray, touched: np.ndarray, n_items: int, n: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Distinct items in 1..n_items-1 that each user never touched.

    users [U] int64 user codes; touched: sorted unique int64 keys ``user * n_items + item`` of
    every known interaction. Returns int64 [U, n]; a user with fewer than ``n`` untouched items
    gets them all and 0 (padding, ignored by the metrics) in the remaining slots. Uniform
    without replacement: rejection sampling in rounds, then an exact draw for the rare users
    still short (random keys over the whole catalogue).
    """
    out = np.zeros((len(users), n), np.int64)
    pending, width = np.arange(len(users)), 2 * n + 8
    for _ in range(MAX_ROUNDS):
        if len(pending) == 0 or width > 4 * n_items:
            break
        draws = rng.integers(1, n_items, size=(len(pending), width))
        ok = ~contains(touched, users[pending, None] * n_items + draws) & first_occurrences(draws)
        done = ok.sum(1) >= n
        chosen = ok[done] & (np.cumsum(ok[done], axis=1) <= n)
        out[pending[done]] = draws[done][chosen].reshape(-1, n)
        pending, width = pending[~done], width * 2
    for start in range(0, len(pending), max(1, 2_000_000 // n_items)):
        rows = pending[start:start + max(1, 2_000_000 // n_items)]
        keys = rng.random((len(rows), n_items - 1))
        keys[contains(touched, users[rows, None] * n_items + np.arange(1, n_items))] = np.inf
        pick = np.argsort(keys, axis=1)[:, :n]
        out[rows, :pick.shape[1]] = np.where(np.isinf(np.take_along_axis(keys, pick, 1)), 0, pick + 1)
    return out


def interaction_keys(data: EncodedData) -> np.ndarray:
    """Sorted unique ``user * n_items + item`` codes of every row in every split."""
    spec = data.spec
    n_items = spec.fields[spec.item_field].cardinality
    cats = [batch["cat"].cpu().numpy() for batch in data.splits.values()]
    keys = [c[:, spec.user_field] * n_items + c[:, spec.item_field] for c in cats]
    return np.unique(np.concatenate(keys))


def encode_implicit(frame: pd.DataFrame, schema: Schema, assignment: np.ndarray,
                    options: EncodingOptions | None = None, n_candidates: int = DEFAULT_CANDIDATES,
                    seed: int = 0, seconds: np.ndarray | None = None) -> EncodedData:
    """``encode`` for the positives in ``frame``, with ``cand`` [U, n_candidates] added to the val
    and test splits (none when ``n_candidates`` is 0: full-corpus ranking), ``label_mean`` set
    to the positive share of the default training mix (1 positive : DEFAULT_NEG_RATIO negatives);
    ``seconds``: as for ``encode``."""
    data = encode(frame, schema, assignment, options, seconds=seconds)
    spec = replace(data.spec, label_mean=1.0 / (1 + DEFAULT_NEG_RATIO))
    if n_candidates > 0:
        touched, n_items = interaction_keys(data), spec.fields[spec.item_field].cardinality
        rng = np.random.default_rng(seed)
        for split in ("val", "test"):
            users = data.splits[split]["cat"][:, spec.user_field].numpy()
            data.splits[split]["cand"] = torch.from_numpy(sample_candidates(users, touched, n_items,
                                                                            n_candidates, rng))
    return data.with_spec(spec)
