"""Behavior histories: each row's past items, derived from the interaction log itself (user,
item, timestamp) or read from a column of delimited past item ids.

Output arrays follow the batch layout of ``models.spec``: ``hist{a}`` [n, L] (a = 0 the item id,
then its item-side fields, with the candidate's own integer codes so both share embeddings),
``hist_len`` [n] and ``hist_age`` [n, L]. Everything is vectorised (sorts, cumulative counts and
gathers); no Python loop runs per row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from automl.data.history_column import item_history_column, split_tokens
from automl.data.schema import Schema
from models.spec import FieldInfo, HistoryInfo

N_AGE_BUCKETS = 16          # hist_age: 0 = padding, 1 + floor(log2(1 + age in hours)), capped at 15


def age_buckets(seconds: np.ndarray) -> np.ndarray:
    """Ages in seconds (> 0) -> int64 buckets 1 + floor(log2(1 + hours)), at most N_AGE_BUCKETS - 1."""
    hours = np.maximum(seconds, 0) / 3600.0
    return np.minimum(1 + np.floor(np.log2(1.0 + hours)).astype(np.int64), N_AGE_BUCKETS - 1)


def derive_history(users: np.ndarray, attributes: np.ndarray, times: np.ndarray, eligible: np.ndarray,
                   max_len: int) -> dict[str, np.ndarray]:
    """The history of every row from the log itself.

    users [n] and times [n] (seconds) int64; attributes [n, A] int64 codes (the item id, then
    its item-side fields); eligible [n] bool: events that may enter a history (e.g. positives).
    ``n`` >= 1. Row r's history: the eligible events of its user with time < times[r] (a simultaneous event
    is never seen, nor the row itself), the newest ``max_len`` of them, oldest first.
    """
    n, length = len(users), max_len
    order = np.lexsort((times, users))                  # by user, then time
    su, st = users[order], times[order]
    position = np.arange(n)
    new_user = np.r_[True, su[1:] != su[:-1]]
    new_instant = new_user | np.r_[True, st[1:] != st[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, position, 0))
    instant_start = np.maximum.accumulate(np.where(new_instant, position, 0))
    events = order[eligible[order]]                     # eligible rows in (user, time) order
    before = np.r_[0, np.cumsum(eligible[order])]       # eligible events before each sorted position
    inverse = np.empty(n, np.int64)
    inverse[order] = position
    end = before[instant_start][inverse]                # per row: its user's eligible events so far,
    size = np.minimum(end - before[user_start][inverse], length)   # the newest ``length`` of them
    row = np.repeat(position, size)                     # one entry per filled slot (row, step)
    step = np.arange(len(row)) - np.repeat(np.cumsum(size) - size, size)
    past = events[end[row] - size[row] + step]
    slot = row * length + step
    out = {f"hist{a}": _scatter(slot, attributes[past, a], n, length) for a in range(attributes.shape[1])}
    out["hist_age"] = _scatter(slot, age_buckets(times[row] - times[past]), n, length)
    out["hist_len"] = size.astype(np.int64)
    return out


def _scatter(slot: np.ndarray, values: np.ndarray, n: int, length: int) -> np.ndarray:
    """Values at flat slots of an int64 [n, length] zero matrix."""
    out = np.zeros(n * length, np.int64)
    out[slot] = values
    return out.reshape(n, length)


def pack_newest(rows: np.ndarray, codes: np.ndarray, n: int, length: int) -> np.ndarray:
    """Tokens ``codes`` of rows ``rows`` (grouped by row, oldest first) -> int64 [n, length]
    holding each row's newest ``length`` tokens, left-aligned, 0 = padding."""
    sizes = np.bincount(rows, minlength=n)
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    position = np.arange(len(rows)) - first[rows]
    drop = np.maximum(sizes[rows] - length, 0)
    keep = position >= drop
    out = np.zeros((n, length), dtype=np.int64)
    out[rows[keep], position[keep] - drop[keep]] = codes[keep]
    return out


def given_history(series: pd.Series, delimiter: str, item_text: pd.Series, item_codes: np.ndarray,
                  max_len: int) -> dict[str, np.ndarray]:
    """A column of delimited past item ids (oldest first) -> hist0 / hist_len / hist_age, ids
    coded like the item column (``item_text`` [n] -> ``item_codes`` [n]). Tokens that are not
    known item ids (code 0) are dropped; ages are unknown, so every real step is bucket 1."""
    known = item_codes > 0
    lookup = pd.Series(item_codes[known], index=item_text[known].to_numpy()).groupby(level=0).first()
    tokens = split_tokens(series, delimiter)
    codes = lookup.reindex(tokens.to_numpy()).to_numpy()
    found = ~np.isnan(codes)
    hist = pack_newest(tokens.index.to_numpy()[found], codes[found].astype(np.int64), len(series), max_len)
    return {"hist0": hist, "hist_len": (hist > 0).sum(1), "hist_age": (hist > 0).astype(np.int64)}


def behavior_history(frame: pd.DataFrame, schema: Schema, seconds: np.ndarray | None,
                     field_codes: Callable[[int], np.ndarray], fields: list[FieldInfo], labels: np.ndarray,
                     max_len: int, positives_only: bool) -> tuple[dict[str, np.ndarray], HistoryInfo | None]:
    """The history arrays and their HistoryInfo for an encoded table (``seconds``: int64 [n] times of
    its rows, ``timestamps_of``; ``field_codes(j)``: int64 [n] codes of ``fields[j]``), or ({}, None)
    when the table offers none. A given item-history column wins over
    deriving one; deriving needs user, item and timestamp columns and, for ``ctr`` with
    ``positives_only``, keeps only the positive events."""
    names = [f.name for f in fields]
    item, user, stamp = schema.names("item"), schema.names("user"), schema.names("timestamp")
    column = item_history_column(frame, schema)
    if column is not None:
        item_field = names.index(item[0])
        arrays = given_history(frame[column], schema.column(column).delimiter or "|",
                               frame[item[0]].astype("string"), field_codes(item_field), max_len)
        return arrays, HistoryInfo(max_len, (item_field,), N_AGE_BUCKETS, f"column {column!r}")
    if not (item and user and stamp):
        return {}, None
    item_field = names.index(item[0])
    index = (item_field, *[j for j, f in enumerate(fields) if f.side == "item" and j != item_field])
    eligible = labels == 1 if schema.task == "ctr" and positives_only else np.ones(len(frame), bool)
    users = pd.factorize(frame[user[0]].astype("string"))[0]    # raw ids: unseen users stay apart
    attributes = np.stack([field_codes(j) for j in index], 1)
    arrays = derive_history(users, attributes, seconds, eligible, max_len)
    what = "positive events" if schema.task == "ctr" and positives_only else "events"
    return arrays, HistoryInfo(max_len, index, N_AGE_BUCKETS,
                               f"derived from {user[0]!r}, {item[0]!r} and {stamp[0]!r} (previous {what})")
