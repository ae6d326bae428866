"""Timestamps: the formats a time column may take and the one parser of them (epoch seconds or
milliseconds, date strings, compact digit times). The role guesser recognises the formats here;
encoding, splits, histories, online replays and the exported predict.py parse with ``parse_timestamps``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from automl.data.schema import Schema
from automl.errors import DataError, clip

EPOCH_SECONDS = (315_532_800, 4_102_444_800)  # 1980-01-01 .. 2100-01-01
MS_THRESHOLD = 100_000_000_000  # integer times above this are milliseconds
# Times written as digits (Avazu's ``hour`` 14102100 = 2014-10-21 00h), longest first; a column takes the
# first format all its values parse with into EPOCH_SECONDS' range.
COMPACT_TIME_FORMATS = (("%Y%m%d%H", 10), ("%Y%m%d", 8), ("%y%m%d%H", 8))
COMPACT_TIME_NAMES = {"%Y%m%d%H": "YYYYMMDDHH", "%Y%m%d": "YYYYMMDD", "%y%m%d%H": "YYMMDDHH"}


def compact_time_format(values: pd.Series) -> str | None:
    """The ``COMPACT_TIME_FORMATS`` format every value parses with (into the epoch range), or None."""
    if values.empty:
        return None
    digits = values.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    if not digits.str.fullmatch(r"\d+").all():
        return None
    low, high = (pd.Timestamp(t, unit="s") for t in EPOCH_SECONDS)
    for fmt, width in COMPACT_TIME_FORMATS:
        if (digits.str.len() == width).all():
            parsed = pd.to_datetime(digits, format=fmt, errors="coerce")
            if parsed.notna().all() and low <= parsed.min() and parsed.max() <= high:
                return fmt
    return None


def timestamps_of(frame: pd.DataFrame, schema: Schema) -> np.ndarray | None:
    """Seconds since the epoch from the schema's timestamp column (read in its ``time_format``),
    or None without one."""
    names = schema.names("timestamp")
    return parse_timestamps(frame[names[0]], schema.column(names[0]).time_format) if names else None


def parse_timestamps(series: pd.Series, time_format: str | None = None) -> np.ndarray:
    """int64 seconds since the epoch from epoch seconds, epoch milliseconds, date strings or, with
    ``time_format`` (a ``COMPACT_TIME_FORMATS`` format), compact digit times such as 14102100.

    Raises DataError naming the column and the first bad row (data rows counted from 1).
    """
    name = series.name
    missing = series.isna().to_numpy()
    if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        missing = missing | (series.astype(str).str.strip() == "").to_numpy()
    if missing.any():
        n = int(missing.sum())
        raise DataError(
            f"timestamp column {name!r} is empty in {n:,} row{'s' * (n != 1)} (first: row "
            f"{int(np.argmax(missing)) + 1}); fill or drop those rows, or set its role to ignore."
        )
    if pd.api.types.is_bool_dtype(series.dtype):
        raise DataError(f"timestamp column {name!r} holds true/false values, not times; set another role.")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return utc_seconds(pd.to_datetime(series, utc=True))
    if time_format is not None:
        digits = series.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
        parsed = pd.to_datetime(digits, format=time_format, errors="coerce", utc=True)
        if parsed.isna().any():
            first = int(np.argmax(parsed.isna().to_numpy()))
            raise DataError(f"timestamp column {name!r} has values that are not {COMPACT_TIME_NAMES[time_format]} "
                            f"times (e.g. {clip(str(series.iloc[first]), 30)!r} in row {first + 1}); fix them or "
                            "set its role to categorical or ignore.")
        return utc_seconds(parsed)
    numbers = pd.to_numeric(series, errors="coerce") if not pd.api.types.is_numeric_dtype(series) else series
    if numbers.notna().all():
        values = numbers.to_numpy(dtype=np.float64)
        if values.max() >= MS_THRESHOLD:
            values = values / 1000
        return np.floor(values).astype(np.int64)
    parsed = pd.to_datetime(series, errors="coerce", utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"timestamp column {name!r} has values that are not dates or epoch times (e.g. "
            f"{clip(str(series.iloc[first]), 30)!r} in row {first + 1}); fix them or set its role to "
            "categorical or ignore."
        )
    return utc_seconds(parsed)


def utc_seconds(parsed: pd.Series) -> np.ndarray:
    """int64 [n] seconds since the epoch (floored) of timezone-aware datetimes, at any resolution pandas
    keeps them (microseconds reach years 1 to 9999; nanoseconds only 1677 to 2262)."""
    micros = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    return np.floor_divide(micros, 1_000_000)
