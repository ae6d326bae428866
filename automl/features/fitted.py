"""What encoding learned from the training rows (vocabularies, numeric statistics and buckets),
kept so that new rows are encoded exactly as the training rows were (``Encoder.apply``), and
written as plain JSON (the ``encoder.json`` of an exported model)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from automl.data.history_column import split_tokens
from automl.data.timestamps import parse_timestamps
from automl.errors import DataError
from automl.features.history import derive_history, given_history, pack_newest


def time_parts(seconds: np.ndarray, name: str) -> dict[str, pd.Series]:
    """Epoch seconds [n] -> "<name> hour" (0..23) and "<name> weekday" (0 = Monday), UTC, int64."""
    return {f"{name} hour": pd.Series(seconds // 3600 % 24), f"{name} weekday": pd.Series((seconds // 86400 + 3) % 7)}


def numeric_values(series: pd.Series) -> np.ndarray:
    """float64 [n], NaN where missing or not a number."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class CategoryCode:
    """A categorical field: ``values[i]`` has index i + 1; 0 is unseen in training, or missing."""

    name: str
    values: list

    def apply(self, series: pd.Series) -> np.ndarray:
        """int64 [n] indices. Mixed-type columns compare as text (12 and "12" agree), as in fitting."""
        index = pd.Index(self.values)
        series = series.astype("string") if series.dtype == object else series
        if len(index) and pd.api.types.is_numeric_dtype(index) != pd.api.types.is_numeric_dtype(series):
            index, series = index.astype(str), series.astype("string")
        return (index.get_indexer(series) + 1).astype(np.int64)


@dataclass
class NumericCode:
    """A numeric column: standardized with the training mean/std, bucketed at the training
    quantiles ``edges``; ``flagged``: a 0/1 "is missing" column follows the numeric block."""

    name: str
    mean: float
    std: float
    edges: list[float]
    flagged: bool

    @classmethod
    def fit(cls, name: str, x: np.ndarray, is_train: np.ndarray, n_buckets: int) -> NumericCode:
        """From float64 values [n] (NaN = missing); flagged when any row misses a value."""
        missing = np.isnan(x)
        train = x[is_train & ~missing]
        mean, std = (float(train.mean()), float(train.std())) if len(train) else (0.0, 1.0)
        edges = np.unique(np.quantile(train, np.linspace(0, 1, n_buckets + 1)[1:-1])) if len(train) else []
        return cls(name, mean, std if std > 0 else 1.0, [float(e) for e in edges], bool(missing.any()))

    @property
    def cardinality(self) -> int:
        return len(self.edges) + 2

    def apply(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """float64 [n] -> (standardized float32 [n] with missing = 0, missing flags float32 [n],
        bucket int64 [n] with 0 = missing)."""
        missing = np.isnan(x)
        standardized = np.where(missing, 0.0, (x - self.mean) / self.std).astype(np.float32)
        below = np.zeros(len(x), np.int64)               # edges at or below each value (searchsorted "right")
        for edge in self.edges:                            # a few edges: one vectorised pass each
            below += x >= edge
        buckets = np.where(missing, 0, below + 1)
        return standardized, missing.astype(np.float32), buckets


@dataclass
class SequenceCode:
    """A delimited-list column: token ``values[i]`` has index i + 1; the newest ``max_len`` kept."""

    name: str
    delimiter: str
    values: list[str]
    max_len: int

    def apply(self, series: pd.Series) -> np.ndarray:
        """-> int64 [n, max_len], newest tokens last, left-aligned, 0 = padding or unseen."""
        tokens = split_tokens(series, self.delimiter)
        codes = pd.Categorical(tokens, categories=self.values).codes.astype(np.int64) + 1
        return pack_newest(tokens.index.to_numpy(), codes, len(series), self.max_len)


@dataclass
class HistoryCode:
    """How a row's behavior history (hist<a>, hist_len, hist_age) is built: read from ``column``, a
    delimited list of past item ids, or else derived from the log's ``events`` (each user's newest
    eligible events: user codes [E], attribute codes [E, A], times [E]) before the row's time."""

    fields: list[int]                 # the fields a history step holds, the item field first
    max_len: int
    column: str | None = None
    delimiter: str | None = None
    user_field: int | None = None
    timestamp: str | None = None
    time_format: str | None = None


def keep_newest_events(users: np.ndarray, attributes: np.ndarray, times: np.ndarray, eligible: np.ndarray,
                       keep: int | None) -> dict[str, np.ndarray]:
    """The eligible events of known users (code > 0), each user's newest ``keep`` (None: all), in
    (user, time) order: {"user" [E], "attributes" [E, A], "time" [E]} for ``HistoryCode``."""
    rows = np.flatnonzero(eligible & (users > 0))
    rows = rows[np.lexsort((times[rows], users[rows]))]
    if keep is not None and len(rows):
        user = users[rows]
        last = np.r_[np.flatnonzero(user[1:] != user[:-1]), len(user) - 1]          # each user's last row
        rank_from_end = np.repeat(last, np.diff(np.r_[-1, last])) - np.arange(len(user))
        rows = rows[rank_from_end < keep]
    return {"user": users[rows], "attributes": attributes[rows], "time": times[rows]}


@dataclass
class Encoder:
    """Everything needed to encode new rows like the training rows (histories excepted: they come
    from the log itself). ``timestamp``/``time_format``: the column the derived hour/weekday
    fields come from, if the dataset asks for them."""

    fields: list[CategoryCode] = field(default_factory=list)
    numeric: list[NumericCode] = field(default_factory=list)
    sequences: list[SequenceCode] = field(default_factory=list)
    timestamp: str | None = None
    time_format: str | None = None
    history: HistoryCode | None = None

    def columns(self, history: bool = False) -> list[str]:
        """The columns a table to score must have (``history``: for a model that reads histories)."""
        derived = set(time_parts(np.zeros(0, np.int64), self.timestamp)) if self.timestamp else set()
        names = [f.name for f in self.fields if f.name not in derived] + [c.name for c in self.numeric]
        names += [s.name for s in self.sequences] + ([self.timestamp] if self.timestamp else [])
        if history and self.history is not None:         # the past-item column, or the time the log is cut at
            names.append(self.history.column or self.history.timestamp)
        return list(dict.fromkeys(names))

    def apply(self, frame: pd.DataFrame, events: dict[str, np.ndarray] | None = None, history: bool = False
              ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """(the batch arrays of ``frame``'s rows — cat, num, num_bkt, seq<j>, label zeros and, with
        ``history`` (a model that reads them), the history arrays —, the number of present values per
        field that training never saw). Missing columns raise DataError. ``events``: the log's events
        a derived history is built from (``keep_newest_events``)."""
        missing = [name for name in self.columns(history) if name not in frame.columns]
        if missing:
            raise DataError(f"the table lacks the column{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))} "
                            "the model was trained with; add them (empty values are allowed)")
        n = len(frame)
        derived = (time_parts(parse_timestamps(frame[self.timestamp], self.time_format), self.timestamp)
                   if self.timestamp else {})
        cat, unseen = [], {}
        for code in self.fields:
            series = derived[code.name] if code.name in derived else frame[code.name]
            values = code.apply(series)
            cat.append(values)
            unseen[code.name] = int(((values == 0) & series.notna().to_numpy()).sum())
        standardized, flags, buckets = [], [], []
        for code in self.numeric:
            s, f, b = code.apply(numeric_values(frame[code.name]))
            standardized.append(s)
            buckets.append(b)
            if code.flagged:
                flags.append(f)
        arrays = {
            "cat": np.stack(cat, 1) if cat else np.zeros((n, 0), np.int64),
            "num": np.stack(standardized + flags, 1) if standardized else np.zeros((n, 0), np.float32),
            "num_bkt": np.stack(buckets, 1) if buckets else np.zeros((n, 0), np.int64),
            "label": np.zeros(n, np.float32),
            **{f"seq{j}": code.apply(frame[code.name]) for j, code in enumerate(self.sequences)},
        }
        if history and self.history is not None:
            arrays.update(self.history_arrays(frame, arrays["cat"], events))
        return arrays, unseen

    def history_arrays(self, frame: pd.DataFrame, cat: np.ndarray, events: dict[str, np.ndarray] | None
                       ) -> dict[str, np.ndarray]:
        """hist<a> [n, L], hist_len [n], hist_age [n, L] of the rows (``cat``: their field codes)."""
        h = self.history
        if h.column is not None:
            item = self.fields[h.fields[0]]
            known = np.arange(1, len(item.values) + 1)
            return given_history(frame[h.column], h.delimiter, pd.Series(item.values).astype("string"), known,
                                 h.max_len)
        if events is None:
            raise DataError("this model reads behavior histories, derived from the log's events: none were given")
        n, first = len(frame), len(events["user"])
        out = derive_history(np.r_[events["user"], cat[:, h.user_field]],
                             np.r_[events["attributes"], np.zeros((n, len(h.fields)), np.int64)],
                             np.r_[events["time"], parse_timestamps(frame[h.timestamp], h.time_format)],
                             np.r_[np.ones(first, bool), np.zeros(n, bool)], h.max_len)
        return {k: v[first:] for k, v in out.items()}

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_plain)

    @classmethod
    def from_json(cls, text: str) -> Encoder:
        data = json.loads(text)
        return cls([CategoryCode(**f) for f in data["fields"]], [NumericCode(**c) for c in data["numeric"]],
                   [SequenceCode(**s) for s in data["sequences"]], data["timestamp"], data["time_format"],
                   HistoryCode(**data["history"]) if data.get("history") else None)


def _plain(value):
    """numpy scalars (vocabulary values) as Python numbers for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
