"""The rules for a table's values that every reader applies alike: validation (``automl.data.validate``),
``crossboard predict`` (``automl.serving.score``) and the exported ``predict.py``, which carries these
functions' own source (so they use numpy, pandas and the names ``DataError`` and ``clip`` only).

- In a numeric column a value that is not a number counts as missing: noted with the first example, and
  refused when such values are more than half of the filled ones (then the column is text, not numbers).
- An infinite number (``inf``, ``-inf``, or one past float64's range such as ``1e309``) is refused in a
  numeric column, a rating label and a time column: no model learns from it, and it is no missing value
  either; the message names the row and the fix.
- Scores never overwrite a column of the scored file: they go into the first free name of ``probability``,
  ``probability_1``, ``probability_2``, ... (``rating`` alike), with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from automl.errors import DataError, clip

MOSTLY_TEXT = 0.5       # past this share of its filled values not being numbers, a numeric column is refused


def number_faults(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(filled, not_number, infinite): bool [n] masks of ``series`` read as numbers; filled = neither missing
    nor blank text, not_number = filled but no number, infinite = a number past float64's finite range."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype) or pd.api.types.is_timedelta64_dtype(series.dtype):
        none = np.zeros(len(series), bool)
        return series.notna().to_numpy(), none, none            # times count as numbers, never infinite
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return ~np.isnan(values), np.zeros(len(series), bool), np.isinf(values)
    filled = series.notna().to_numpy() & (series.astype("string").str.strip() != "").to_numpy(dtype=bool, na_value=False)
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return filled, filled & np.isnan(values), np.isinf(values)


def refuse_infinite(what: str, series: pd.Series, infinite: np.ndarray, fix: str, first_row: int = 1) -> None:
    """DataError naming the first infinite value of ``series`` (``what``: e.g. "column 'price'"; its rows
    counted from ``first_row``) and the ``fix``, if it has one."""
    if infinite.any():
        at = int(np.argmax(infinite))
        raise DataError(f"{what} holds an infinite number ({clip(str(series.iloc[at]), 30)!r} in row "
                        f"{first_row + at:,}), which no model can learn from; {fix}.")


@dataclass
class NumberCount:
    """A numeric column's values that are not numbers, counted over a file read in chunks (rows from 1);
    ``fix``: what to do when the column is mostly text (it depends on where the table comes from)."""

    name: str
    fix: str
    filled: int = 0
    text: int = 0
    example: str = ""

    def add(self, series: pd.Series, first_row: int = 1) -> None:
        """Count the values of ``series`` (data rows ``first_row``, ...): DataError on an infinite number,
        or when more than MOSTLY_TEXT of the filled values so far are not numbers."""
        filled, text, infinite = number_faults(series)
        refuse_infinite(f"numeric column {self.name!r}", series, infinite,
                        "empty that cell (it then counts as missing) or write a finite number", first_row)
        if text.any() and not self.text:
            at = int(np.argmax(text))
            self.example = f"{clip(str(series.iloc[at]), 30)!r} in row {first_row + at:,}"
        self.filled, self.text = self.filled + int(filled.sum()), self.text + int(text.sum())
        share = self.text / max(self.filled, 1)
        if share > MOSTLY_TEXT:
            raise DataError(f"column {self.name!r} is set as numeric but {share:.0%} of its values are not numbers "
                            f"(e.g. {self.example}); {self.fix}.")

    def notes(self) -> list[str]:
        """The note on the values that count as missing, if any."""
        if not self.text:
            return []
        what = "value is not a number" if self.text == 1 else "values are not numbers"
        return [f"column {self.name!r}: {self.text:,} {what} (e.g. {self.example}); they count as missing."]


def free_name(wanted: str, taken) -> str:
    """``wanted``, or ``wanted_1``, ``wanted_2``, ... : the first that is not among ``taken`` (column names)."""
    taken, name, n = set(map(str, taken)), wanted, 0
    while name in taken:
        n += 1
        name = f"{wanted}_{n}"
    return name


@dataclass
class ScoreChecks:
    """The rules for a file scored in chunks (``crossboard predict``, the exported predict.py): the model's
    ``numeric`` columns by NumberCount, no infinite number in its ``timestamp`` column, and the column the
    scores go into, ``wanted`` or the first free name after it (chosen on the first chunk)."""

    numeric: list[str]
    timestamp: str | None
    wanted: str
    output: str | None = None
    rows: int = 0
    counts: list[NumberCount] = field(default_factory=list)

    def add(self, chunk: pd.DataFrame) -> str:
        """Check the file's next rows; -> the column their scores go into."""
        if self.output is None:
            self.output = free_name(self.wanted, chunk.columns)
            self.counts = [NumberCount(name, "score a file whose column holds numbers, as the training file's did")
                           for name in self.numeric]
        for count in self.counts:
            if count.name in chunk.columns:
                count.add(chunk[count.name], self.rows + 1)
        if self.timestamp in chunk.columns:
            series = chunk[self.timestamp]
            refuse_infinite(f"timestamp column {self.timestamp!r}", series, number_faults(series)[2],
                            "write a finite time or drop that row", self.rows + 1)
        self.rows += len(chunk)
        return self.output

    def notes(self) -> list[str]:
        """Where the scores went when the file has a column named ``wanted``; the values counted as missing."""
        notes = [note for count in self.counts for note in count.notes()]
        if self.output != self.wanted:
            notes.insert(0, f"the file has a column {self.wanted!r}: the scores are in {self.output!r}")
        return notes
