"""The time-ordered log of an online study and its windows.

An online study's split (``automl.features.splits.online_fractions``) trains offline on the oldest
``initial`` share of the rows (its newest ninth validates) and keeps every later row as the
*stream*, cut into windows of a number of rows or a duration. The ``Log`` holds every row once,
in time order (the training rows, the validation rows, then the stream), so that the online
learners can replay it: window ``w`` of the stream is scored before any of its labels is seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from automl.data.datasets import load_columns
from automl.data.timestamps import timestamps_of
from automl.errors import SettingsError
from automl.features.encode import EncodedData
from automl.features.prepare import stored_split, task_schema
from automl.features.splits import SPLIT_NAMES, online_fractions
from models import REGISTRY
from storage import Store
from storage.tables import DatasetRow

SHARED_MODES = ("static", "incremental", "retrain")     # every model's; a card may add its own (online_mode)
MODES = (*SHARED_MODES, *(card.online_mode for card in REGISTRY.values() if card.online_mode))
DEFAULT_MODES = SHARED_MODES
DEFAULT_WINDOWS = 20            # stream windows when neither a row count nor a duration is given
MIN_WINDOWS = 3                 # at least one to choose the modes' options on and two to report


@dataclass(frozen=True)
class OnlineSettings:
    """How an online study cuts its log: the offline ``initial`` share, stream windows of
    ``window_rows`` rows or ``window_hours`` hours (neither: ``DEFAULT_WINDOWS`` equal windows),
    the ``modes`` every model replays (a model's own online mode, ``ModelCard.online_mode``, runs
    whenever the model is in the study),
    and the ``tuning`` share of the stream's windows (the oldest) that the modes' options are
    chosen on; only the windows after them are reported."""

    initial: float = 0.2
    window_rows: int | None = None
    window_hours: float | None = None
    modes: tuple[str, ...] = DEFAULT_MODES
    tuning: float = 0.2

    @classmethod
    def from_dict(cls, values: dict) -> OnlineSettings:
        return cls(**{**values, "modes": tuple(values.get("modes", DEFAULT_MODES))})

    def check(self) -> None:
        """Raise SettingsError naming the setting that cannot work."""
        if not 0.05 <= self.initial <= 0.9:
            raise SettingsError(f"the initial share must be between 0.05 and 0.9 (got {self.initial}); "
                                "it is the oldest part of the log that trains the models offline")
        if self.window_rows is not None and self.window_hours is not None:
            raise SettingsError("give the window as a number of rows or of hours, not both")
        if self.window_rows is not None and self.window_rows < 10:
            raise SettingsError(f"a window needs at least 10 rows (got {self.window_rows})")
        if self.window_hours is not None and self.window_hours <= 0:
            raise SettingsError(f"the window must last a positive number of hours (got {self.window_hours})")
        unknown = sorted(set(self.modes) - set(MODES))
        if unknown or not self.modes:
            raise SettingsError(f"unknown online mode(s) {unknown or '(none given)'}; use some of {', '.join(MODES)}")
        if not 0 < self.tuning < 1:
            raise SettingsError(f"the tuning share of the windows must be between 0 and 1 (got {self.tuning})")

    @property
    def fractions(self) -> tuple[float, float, float]:
        return online_fractions(self.initial)


@dataclass
class Log:
    """Every row once, in time order: ``rows`` (a batch dict, on the training device) with
    ``seconds`` float64 [n], ``users`` int64 [n] (user codes; None without a user column) and
    ``window`` int64 [n] (stream windows 0..W-1; the rows before the stream count backwards,
    -1, -2, ..., cut the same way). ``edges`` int64 [W + 1]: window ``w`` is rows
    ``edges[w]:edges[w + 1]``; the stream starts at ``edges[0]``."""

    rows: dict[str, torch.Tensor]
    seconds: np.ndarray
    window: np.ndarray
    edges: np.ndarray
    users: np.ndarray | None = None
    n_tuning: int = 1                                  # the first windows, where options are chosen
    starts: np.ndarray = field(init=False)             # float64 [W]: each window's first second

    def __post_init__(self) -> None:
        self.starts = self.seconds[self.edges[:-1]]

    @property
    def n_windows(self) -> int:
        return len(self.edges) - 1

    def span(self, w: int) -> tuple[int, int]:
        return int(self.edges[w]), int(self.edges[w + 1])

    def take(self, start: int, end: int) -> dict[str, torch.Tensor]:
        """Rows ``start:end`` as a batch dict (views)."""
        return {k: v[start:end] for k, v in self.rows.items()}


def window_ids(seconds: np.ndarray, stream_start: int, settings: OnlineSettings) -> np.ndarray:
    """int64 [n] window of each time-ordered row: 0.. from ``stream_start`` on, -1, -2, ... before."""
    n, position = len(seconds), np.arange(len(seconds))
    if settings.window_hours is not None:
        width = settings.window_hours * 3600.0
        return np.floor((seconds - seconds[stream_start]) / width).astype(np.int64)
    size = settings.window_rows or math.ceil((n - stream_start) / DEFAULT_WINDOWS)
    return np.floor_divide(position - stream_start, size)


def time_order(seconds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """(each split's rows sorted by time, as positions in the split's row order; every row's
    time in log order, float64 [n]; the position where the stream starts) from each split's row
    times in its row order. The log is the training rows, the validation rows, then the stream."""
    order = {split: np.argsort(seconds[split], kind="stable") for split in SPLIT_NAMES}
    times = np.concatenate([seconds[s][order[s]] for s in SPLIT_NAMES]).astype(np.float64)
    stream_start = len(order["train"]) + len(order["val"])
    if stream_start >= len(times):
        raise SettingsError("the online split left no rows for the stream; lower the initial share")
    return order, times, stream_start


def stream_windows(times: np.ndarray, stream_start: int, settings: OnlineSettings) -> tuple[np.ndarray, np.ndarray]:
    """(int64 [n] window of each log row, with empty durations skipped so the stream's windows are
    0..W-1; int64 [W + 1] the windows' edges) of the time-ordered ``times``."""
    window = window_ids(times, stream_start, settings)
    stream = window[stream_start:]
    present = np.unique(stream)
    window[stream_start:] = np.searchsorted(present, stream)
    edges = np.r_[stream_start + np.searchsorted(window[stream_start:], np.arange(len(present))), len(times)]
    if len(present) < MIN_WINDOWS:
        raise SettingsError(f"the stream holds {len(present)} window(s); an online study needs at least "
                            f"{MIN_WINDOWS}: choose smaller windows (fewer rows or hours) or a smaller initial share")
    return window, edges.astype(np.int64)


def tuning_windows(n_windows: int, settings: OnlineSettings) -> int:
    """How many of the oldest windows choose the modes' options (at least one; two are left to report)."""
    return min(max(1, round(settings.tuning * n_windows)), n_windows - 2)


def make_log(data: EncodedData, seconds: dict[str, np.ndarray], settings: OnlineSettings) -> Log:
    """The ``Log`` of ``data`` (an online study's encoded splits; the stream is its test split)
    given each split's row times in the split's row order."""
    order, times, stream_start = time_order(seconds)
    device = data.device
    rows = {key: torch.cat([data.splits[s][key][torch.from_numpy(order[s]).to(device)] for s in SPLIT_NAMES])
            for key in data.splits["train"]}
    window, edges = stream_windows(times, stream_start, settings)
    users = None
    if data.spec.user_field is not None:
        users = rows["cat"][:, data.spec.user_field].cpu().numpy().astype(np.int64)
    return Log(rows, times, window, edges, users, tuning_windows(len(edges) - 1, settings))


def split_seconds(store: Store, row: DatasetRow, home: Path, settings: OnlineSettings) -> dict[str, np.ndarray]:
    """Each split's row times (seconds, float64) in the order the encoded splits hold the rows."""
    schema = task_schema(row)
    times = timestamps_of(load_columns(store, row, home), schema)
    if times is None:
        raise SettingsError(f"dataset {row.name!r} has no timestamp column; an online study replays the log in "
                            "time order (set a column's role to timestamp on the Data page)")
    assignment = stored_split(store, row, home, fractions=settings.fractions)
    return {split: times[assignment == i].astype(np.float64) for i, split in enumerate(SPLIT_NAMES)}
