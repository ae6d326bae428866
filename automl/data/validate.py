"""Checking a table against a (possibly user-edited) Schema, and turning its label into a vector.

Blocking problems raise :class:`DataError` naming the column and the first bad row (data rows
counted from 1, as in a spreadsheet); softer ones come back as warnings. Numbers follow
``automl.data.values``: an infinite number (inf, 1e309) in a numeric column, a rating label or a time
column is refused; a value that is no number in a numeric column counts as missing (refused when
more than half are).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from automl.data.infer_schema import positive_value
from automl.data.schema import CATEGORICAL_ROLES, SPLIT_VALUES, Schema
from automl.data.timestamps import parse_timestamps
from automl.data.values import NumberCount, number_faults, refuse_infinite
from automl.errors import DataError

MAX_VOCABULARY = 1_000_000
MIN_POSITIVE_SHARE = 0.001
FEATURE_ROLES = ("user", "item", "categorical", "numeric", "sequence")


def validate(frame: pd.DataFrame, schema: Schema, source: str = "the file") -> list[str]:
    """Raise DataError on blocking problems; return warnings (strings) otherwise."""
    _check_columns(frame, schema, source)
    label = schema.label
    if label is not None:
        _check_label_filled(frame[label], label)
    warnings = _check_ctr_label(frame[label], schema) if schema.task == "ctr" else []
    if schema.task == "rating":
        _check_rating_label(frame[label], label)
    for column in schema.columns:
        series = frame[column.name]
        if column.role == "numeric":
            warnings += _check_numeric(series, column.name)
        elif column.role == "timestamp":
            _check_times(series, column.name, column.time_format)
        elif column.role == "sequence" and not column.delimiter:
            raise DataError(
                f"column {column.name!r} is set as sequence but has no delimiter; choose the delimiter "
                "(e.g. '|') on the Data page or set another role."
            )
        elif column.role in CATEGORICAL_ROLES:
            warnings += _check_vocabulary(series, column.name)
        elif column.role == "split":
            warnings += _check_split(series, column.name)
    return warnings


def split_parts(series: pd.Series) -> pd.Series:
    """A split column's values as "train" / "val" / "test" (NA where a value names no split)."""
    return series.astype("string").str.strip().str.lower().map(SPLIT_VALUES)


def _check_split(series: pd.Series, name: str) -> list[str]:
    parts = split_parts(series)
    bad = parts.isna().to_numpy()
    if bad.any():
        row = _first_row(bad)
        raise DataError(f"column {name!r} is set as the split but row {row} holds {series.iloc[row - 1]!r}; "
                        f"use train, valid or test ({', '.join(sorted(SPLIT_VALUES))}) or set another role.")
    missing = {"train", "test"} - set(parts)
    if missing:
        raise DataError(f"the split column {name!r} has no {' and no '.join(sorted(missing))} rows; a comparison "
                        "needs both (add them, or set the column's role to ignore to let CrossBoard split).")
    if "val" not in set(parts):
        return [(f"the split column {name!r} has no validation rows: a ninth of the training rows is held out "
                 "to choose epochs and trials, the newest when the test rows come after them in time, else at "
                 "random; test rows never choose")]
    return []


def label_vector(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """float32 labels: 1/0 (label equals the positive value, compared as text) for ctr, the number for rating,
    1 for implicit (whose rows are the positives, see ``automl.features.topk_split.positive_rows``)."""
    if schema.task == "implicit":
        return np.ones(len(frame), dtype=np.float32)
    series = frame[schema.label]
    if schema.task == "rating":
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float32)
    positive = schema.positive_label or positive_value(_distinct(series))
    target = _keys(pd.Series([positive]))[0]
    return (_keys(series) == target).to_numpy(dtype=np.float32)


# --- structure ------------------------------------------------------------------------------------------


def _check_columns(frame: pd.DataFrame, schema: Schema, source: str) -> None:
    """The label exists; columns are in the table; one label/user/item; some feature left."""
    if schema.task == "implicit" and not (schema.names("user") and schema.names("item")):
        raise DataError(f"the implicit task needs a user and an item column in {source}; set their roles on "
                        "the Data page or with --role COLUMN=user --role COLUMN=item.")
    if schema.label is None and schema.task != "implicit":
        raise DataError(f"no label column is set for {source}; pick one on the Data page or with --label COLUMN.")
    missing = [name for name in schema.all_names() if name not in frame.columns]
    if missing:
        raise DataError(
            f"{source} has no column {missing[0]!r} named in the schema; upload the same file again or "
            "re-detect the columns."
        )
    for role in ("label", "user", "item", "split"):
        names = schema.names(role)
        if len(names) > 1:
            raise DataError(
                f"more than one {role} column ({', '.join(repr(n) for n in names)}); keep one as {role} and "
                "set the others to categorical."
            )
    if not schema.names(*FEATURE_ROLES):
        raise DataError(
            f"no feature column left in {source}: every column except the label is ignored or a timestamp; "
            "set at least one column to user, item, categorical, numeric or sequence."
        )


# --- label ----------------------------------------------------------------------------------------------


def _empty(series: pd.Series) -> np.ndarray:
    """True where a value is missing or blank text."""
    empty = series.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        empty = empty | (series.astype(str).str.strip() == "").to_numpy()
    return empty


def _first_row(mask: np.ndarray) -> int:
    """The spreadsheet row number (data rows from 1) of the first True."""
    return int(np.argmax(mask)) + 1


def _check_label_filled(series: pd.Series, label: str) -> None:
    empty = _empty(series)
    if empty.any():
        n = int(empty.sum())
        raise DataError(
            f"label {label!r} is empty in {n:,} row{'s' * (n != 1)} (first: row {_first_row(empty)}); "
            "drop or fill those rows."
        )


def _distinct(series: pd.Series, limit: int = 3) -> list:
    """Up to ``limit`` distinct values in file order."""
    return series.drop_duplicates().head(limit).tolist()


def _keys(series: pd.Series) -> pd.Series:
    """Label values as comparable text: numbers as floats ('1', '1.0', '+1' → '1.0'), words lower-cased.
    Each distinct value is converted once (a label column has a few of them, however many rows)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    return pd.Series(_value_keys(pd.Series(uniques)).to_numpy(dtype=object)[codes], index=series.index)


def _value_keys(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.map({True: "true", False: "false"})
    text = series.astype(str).str.strip()
    numbers = pd.to_numeric(text.str.removeprefix("+"), errors="coerce").astype("float64")
    return numbers.astype(str).where(numbers.notna(), text.str.lower())


def _check_ctr_label(series: pd.Series, schema: Schema) -> list[str]:
    """Two classes, one of them the positive value; warn when positives are very rare."""
    label = schema.label
    keys = _keys(series).reset_index(drop=True)
    classes = keys.drop_duplicates().head(3)
    shown = [str(series.iloc[i]) for i in classes.index]
    if len(classes) == 1:
        raise DataError(
            f"label {label!r} is {shown[0]} in all {len(series):,} rows; a CTR task needs both positive and "
            "negative rows: add the missing class or choose another label."
        )
    positive = schema.positive_label or positive_value(_distinct(series))
    is_numeric = pd.to_numeric(classes, errors="coerce").notna().all()
    if len(classes) > 2 and is_numeric:
        raise DataError(
            f"label {label!r} has more than two values ({', '.join(shown)}, …); a CTR task needs exactly two "
            "classes (e.g. 0/1): set the task to rating or recode the label."
        )
    target = _keys(pd.Series([positive]))[0] if positive is not None else None
    if len(classes) > 2 or target not in set(classes):
        raise DataError(
            f"label {label!r} holds {', '.join(repr(s) for s in shown)}{', …' if len(classes) > 2 else ''}; "
            "a CTR label must be two classes such as 0/1, -1/1, true/false or yes/no: recode it or choose "
            "another label column."
        )
    share = float((keys == target).mean())
    if share >= MIN_POSITIVE_SHARE:
        return []
    warning = (
        f"only {share:.3%} of rows are positive (label {label!r} = {positive}); AUC and logloss will be "
        "noisy: add positive rows if you can."
    )
    return [warning]


def _check_rating_label(series: pd.Series, label: str) -> None:
    if pd.api.types.is_bool_dtype(series.dtype):
        raise DataError(f"label {label!r} holds true/false values; a rating task needs numbers: set the task to ctr.")
    _, bad, infinite = number_faults(series)
    refuse_infinite(f"label {label!r}", series, infinite, "write a finite number or drop that row")
    if bad.any():
        row = _first_row(bad)
        raise DataError(
            f"label {label!r} is not numeric (e.g. {str(series.iloc[row - 1])!r} in row {row}); a rating task "
            "needs numbers: fix the label, or set the task to ctr for a two-class label."
        )


# --- features -------------------------------------------------------------------------------------------


def _check_numeric(series: pd.Series, name: str) -> list[str]:
    """More than half of the non-empty values must be numbers; a few bad ones only warn."""
    count = NumberCount(name, "set its role to categorical or clean it")
    count.add(series)
    return count.notes()


def _check_times(series: pd.Series, name: str, time_format: str | None) -> None:
    """Times CrossBoard computes with: no infinite number, every value parsed by ``parse_timestamps``
    (which names a bad one), and within pandas' range (1677 to 2262)."""
    refuse_infinite(f"timestamp column {name!r}", series, number_faults(series)[2], "write a finite time or drop that row")
    try:
        parse_timestamps(series, time_format)
    except pd.errors.OutOfBoundsDatetime:
        raise DataError(f"timestamp column {name!r} holds dates outside 1677–2262, which CrossBoard cannot compute "
                        "with; fix those dates, or set its role to categorical or ignore.") from None


def _check_vocabulary(series: pd.Series, name: str) -> list[str]:
    n_unique = series.nunique()
    if n_unique <= MAX_VOCABULARY:
        return []
    warning = (
        f"column {name!r} has {n_unique:,} distinct values; only the {MAX_VOCABULARY:,} most frequent values "
        "get their own embedding; the rest share the out-of-vocabulary index."
    )
    return [warning]
