"""A stored Parquet table read one column at a time, so a table larger than memory can be
checked and encoded: everything that reads a table by column (``frame[name]``, ``frame.columns``,
``len(frame)``) takes it in place of a pandas DataFrame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq


class ParquetColumns:
    """``frame[name]`` -> pd.Series of one column (the dtypes ``pd.read_parquet`` gives),
    ``frame[[a, b]]`` -> pd.DataFrame of those columns, ``len(frame)`` rows, ``frame.columns``,
    ``frame.shape``, ``frame.head(n)``; only the asked-for columns are ever in memory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta = pq.ParquetFile(self.path).metadata
        self.columns = pd.Index(pq.read_schema(self.path).names)
        self._rows = meta.num_rows

    def __len__(self) -> int:
        return self._rows

    @property
    def shape(self) -> tuple[int, int]:
        return self._rows, len(self.columns)

    def __getitem__(self, key):
        if isinstance(key, list):
            return pd.read_parquet(self.path, columns=key)
        if key not in self.columns:
            raise KeyError(key)
        return pd.read_parquet(self.path, columns=[key])[key]

    def head(self, n: int = 5) -> pd.DataFrame:
        """The first ``n`` rows, reading no more than the row groups that hold them."""
        batches = pq.ParquetFile(self.path).iter_batches(batch_size=max(n, 1))
        first = next(batches, None)
        return (first.to_pandas() if first is not None else pd.read_parquet(self.path)).head(n)

    def to_pandas(self) -> pd.DataFrame:
        """The whole table in memory."""
        return pd.read_parquet(self.path)
