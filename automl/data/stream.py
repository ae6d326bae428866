"""Files bigger than memory: a CSV/TSV ('::'-separated too) or Parquet file on disk converted block by block
into the Parquet copy CrossBoard stores. The first rows are read exactly as an upload is (delimiter,
header or none, encoding, roles); the rest is parsed in blocks of ``block_bytes`` and never held whole.
Every column gets the type the whole file would give it in memory (``read.convert_text``): a
column found wider in a later block (a text value among numbers; in Parquet, dates past pandas' range,
read as text) restarts the pass with it wider. A Parquet file is read in blocks of at most BLOCK_VALUES
values and about BLOCK_BYTES bytes (from its metadata), and its strings' expansion is checked per block
(``read.flatten_parquet_column``), so memory stays bounded whatever the file."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from automl.data.columns import ParquetColumns
from automl.data.files import partial_path, removed_on_failure
from automl.data.read import (
    DOUBLE_COLON,
    NUMBER_TYPES,
    STAND_IN,
    RawTable,
    convert_text,
    flatten_parquet_column,
    is_parquet,
    open_parquet,
    read_table,
    row_group_sizes,
)
from automl.errors import DataError

HEAD_BYTES = 32 * 2**20     # the first rows, read as an upload is, decide delimiter, header and roles
HEAD_ROWS = 200_000         # at most this many first rows of a Parquet file
BLOCK_BYTES = 64 * 2**20    # text parsed per block; about the decoded bytes of a Parquet block
BLOCK_VALUES = 8 * 2**20    # values (rows × columns, list items counted) of a Parquet block
HASH_BYTES = 16 * 2**20


class _Wider(Exception):
    def __init__(self, index: int, kind: int):
        self.index, self.kind = index, kind


def file_digest(path: Path, options: bytes):
    """SHA-256 of the file's bytes then ``options``, read HASH_BYTES at a time (the digest an
    upload of the same bytes gets)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_BYTES):
            digest.update(chunk)
    digest.update(options)
    return digest


def stream_table(path: Path, filename: str, out: Path, *, delimiter: str | None = None,
                 names: list[str] | None = None) -> tuple[RawTable, pd.DataFrame]:
    """Convert ``path`` into the Parquet file ``out``; -> (a RawTable whose ``frame`` reads ``out``
    one column at a time (``columns.ParquetColumns``), the first rows as a DataFrame: the rows
    that roles are guessed on)."""
    head = copy_to_parquet(path, filename, out, delimiter=delimiter, names=names)
    frame = ParquetColumns(out)
    note = (f"read in blocks: roles were guessed on its first "
            f"{len(head.frame):,} of {len(frame):,} rows, every row was checked")
    return replace(head, frame=frame, notes=head.notes + [note]), head.frame


def copy_to_parquet(path: Path, filename: str, out: Path, *, delimiter: str | None = None,
                    names: list[str] | None = None) -> RawTable:
    """Convert ``path`` (CSV/TSV or Parquet) block by block into the Parquet file ``out``; -> its first
    rows, read as an upload is."""
    with open(path, "rb") as f:
        magic = f.read(4)
    out.parent.mkdir(parents=True, exist_ok=True)
    with removed_on_failure(partial_path(out), None) as partial:        # the caller says what a full disk stopped
        if is_parquet(Path(filename).suffix.lower(), magic):
            file = open_parquet(f"'{filename}'", Path(path))
            rows = _block_rows(file.metadata)
            head = _parquet_head(file, filename, min(rows, HEAD_ROWS))
            _write_parquet(file, filename, partial, rows)
        else:
            head = _text_head(path, filename, delimiter, names)
            _write_delimited(path, filename, partial, head, BLOCK_BYTES)
        partial.replace(out)
    return head


def _text_head(path: Path, filename: str, delimiter: str | None, names: list[str] | None) -> RawTable:
    """The first HEAD_BYTES (whole lines) read as an upload; refuses what cannot be read in blocks."""
    with open(path, "rb") as f:
        data = f.read(HEAD_BYTES + 1)
    if len(data) > HEAD_BYTES:
        data = data[: data.rfind(b"\n", 0, HEAD_BYTES) + 1] or data[:HEAD_BYTES]
    head = read_table(data, filename, delimiter=delimiter, names=names, max_bytes=len(data))
    if head.file_format not in ("csv", "tsv") or head.delimiter == DOUBLE_COLON and head.encoding.startswith("utf-16"):
        shown = "a libFM file" if head.file_format == "libfm" else "'::'-separated UTF-16 text"
        raise DataError(f"'{filename}' is {shown} and past the in-memory limit; files that large are read in "
                        "blocks, which needs CSV/TSV ('::'-separated in UTF-8 or an 8-bit encoding) or Parquet: "
                        "convert it, or raise the limit (--memory-mb)")
    if "+" in head.encoding:
        raise DataError(f"'{filename}' is UTF-8 text but for some lines ({head.notes[0]}); a file past the in-memory "
                        "limit is read in blocks, which needs one encoding: save it as UTF-8 and ingest it again")
    return head


class _StandInFile(io.RawIOBase):
    """A '::'-separated file read with STAND_IN for each '::' (as ``read_table`` reads one in memory), a
    block at a time: the colons of a run pair from its start, so only an odd run's last colon at a block's
    end waits for the next block (the colon it may pair with)."""

    def __init__(self, file: io.BufferedReader):
        self._file, self._held, self._ready = file, b"", bytearray()     # held: None once the file is read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._ready and self._held is not None:
            more = self._file.read(len(buffer))
            data, self._held = self._held + more, b"" if more else None
            if more and (len(data) - len(data.rstrip(b":"))) % 2:
                data, self._held = data[:-1], b":"
            self._ready += data.replace(DOUBLE_COLON.encode(), STAND_IN.encode())
        n = min(len(buffer), len(self._ready))
        buffer[:n] = self._ready[:n]
        del self._ready[:n]
        return n


def _block_rows(meta) -> int:
    """Rows per Parquet block: at most BLOCK_VALUES values and about BLOCK_BYTES bytes in the densest row group."""
    sizes = row_group_sizes(meta)
    per_row = (sizes[:, 1:] / np.maximum(sizes[:, :1], 1)).max(axis=0, initial=1.0)
    return max(1, int(min(BLOCK_VALUES / per_row[0], BLOCK_BYTES / max(per_row[1], 1.0))))


def _parquet_head(file: pq.ParquetFile, filename: str, rows: int) -> RawTable:
    try:
        batch = next(file.iter_batches(batch_size=rows), None)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"'{filename}' could not be read as Parquet ({exc}); export it again") from None
    if batch is None:
        raise DataError(f"'{filename}' has no rows; upload a file with at least one row of data.")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_batches([batch]), buffer)
    return read_table(buffer.getvalue(), filename, max_bytes=buffer.tell() + 1)


def _write_parquet(file: pq.ParquetFile, filename: str, out: Path, batch_rows: int) -> None:
    """Copy in blocks of ``batch_rows``; restart with a column as text when a later block needs it so."""
    as_text: set[int] = set()
    while True:
        try:
            return _parquet_pass(file, filename, out, batch_rows, as_text)
        except _Wider as wider:
            as_text.add(wider.index)


def _parquet_pass(file: pq.ParquetFile, filename: str, out: Path, batch_rows: int, as_text: set[int]) -> None:
    names = [str(n).strip() for n in file.schema_arrow.names]
    notes: list[str] = []       # the head's notes are the file's
    writer = None
    try:
        for batch in file.iter_batches(batch_size=batch_rows):
            columns, used = [], 0
            for i, column in enumerate(batch.columns):
                flat = flatten_parquet_column(f"'{filename}'", names[i], column, notes, used, i in as_text)
                if writer is not None and flat.type != writer.schema.field(i).type:
                    raise _Wider(i, len(NUMBER_TYPES))
                used += flat.nbytes
                columns.append(flat)
            table = pa.Table.from_arrays(columns, names=names)
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"'{filename}' could not be read as Parquet ({exc}); export it again") from None
    finally:
        if writer is not None:
            writer.close()


def _write_delimited(path: Path, filename: str, out: Path, head: RawTable, block_bytes: int) -> None:
    """Parse in blocks; restart with a column wider when a later block needs it (rare: then once)."""
    floors = [0] * head.frame.shape[1]
    with open(path, "rb") as f:
        quoted = b'"' in f.read(HEAD_BYTES)
    while True:
        try:
            return _delimited_pass(path, filename, out, head, block_bytes, floors, quoted)
        except _Wider as wider:
            floors[wider.index] = wider.kind


def _delimited_pass(path: Path, filename: str, out: Path, head: RawTable, block_bytes: int, floors: list[int],
                    quoted: bool) -> None:
    columns = [str(c) for c in head.frame.columns]
    keys = [f"c{i}" for i in range(len(columns))]
    bad = []

    def on_bad_row(row):
        bad.append(row)
        return "error"

    encoding = head.encoding if head.encoding not in (None, "utf-8", "utf-8-sig") else "utf8"
    delimiter = STAND_IN if head.delimiter == DOUBLE_COLON else head.delimiter
    writer, written = None, 0
    with open(path, "rb") as source:     # a '::'-separated file is parsed through _StandInFile
        try:
            reader = pacsv.open_csv(
                _StandInFile(source) if head.delimiter == DOUBLE_COLON else path,
                read_options=pacsv.ReadOptions(column_names=keys, skip_rows=int(head.header), block_size=block_bytes,
                                               encoding=encoding),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=quoted,
                                                 invalid_row_handler=on_bad_row),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(keys, pa.string()),
                                                     strings_can_be_null=True))
            for batch in reader:
                converted = []
                for i, column in enumerate(batch.columns):
                    values, kind = convert_text(column, floors[i])
                    if kind != floors[i]:
                        if written:
                            raise _Wider(i, kind)
                        floors[i] = kind
                    converted.append(values)
                table = pa.Table.from_arrays(converted, names=columns)
                if writer is None:
                    writer = pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
                written += len(table)
        except pa.ArrowInvalid as exc:
            if bad:
                row = bad[0]
                where = f"line {row.number + 1}" if row.number is not None else "a line"
                raise DataError(f"{where} of '{filename}' has {row.actual_columns} fields but the header has "
                                f"{row.expected_columns}; fix that row (a stray delimiter or an unquoted value "
                                "containing one?) and ingest again.") from None
            if "UTF8" in str(exc):
                raise DataError(f"'{filename}' holds text that is not UTF-8 past its first rows ({exc}); save it as "
                                "UTF-8 and ingest it again.") from None
            raise DataError(f"'{filename}' could not be parsed as a table ({exc}); check the file.") from None
        finally:
            if writer is not None:
                writer.close()
    if not written:
        raise DataError(f"'{filename}' has a header but no data rows; upload a file with at least one row of data.")
