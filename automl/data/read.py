"""Reading an uploaded file (CSV/TSV, Parquet or libFM) into a pandas DataFrame.

Every problem with the file raises :class:`DataError` with a message that names the file and says
what to do; no pandas/pyarrow exception escapes. A table has at most MAX_COLUMNS columns, refused from
its header (or Parquet metadata) before any row is parsed; a Parquet file read in memory is checked
against MAX_PARQUET_VALUES and MAX_PARQUET_BYTES from its metadata before any value is decoded.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from automl.data.timestamps import EPOCH_SECONDS
from automl.errors import DataError, SettingsError, clip

DEFAULT_MAX_MB = 500
MAX_COLUMNS = 5_000             # columns of any table: each is profiled, checked and encoded on its own
MAX_LIBFM_COLUMNS = 1000        # the columns a libFM file may become: fields per row, or distinct indices (dense)
MAX_LIBFM_CELLS = 20_000_000    # rows × columns a varying-width libFM file may expand into (160 MB of float64)
MAX_PARQUET_VALUES = 50_000_000     # values (rows × columns, list items counted) of a Parquet file read in memory
MAX_PARQUET_BYTES = 2**30       # bytes its values decode into (strings at their length); per block when read in blocks
MAX_PARQUET_FOOTER = 64 * 2**20     # bytes of its metadata
DELIMITERS = (",", "\t", ";", "|")
DOUBLE_COLON, STAND_IN = "::", "\x1f"   # MovieLens 1M/10M .dat files; read with a one-character stand-in
DELIMITER_NAMES = {",": "',' (comma)", "\t": "tab", ";": "';' (semicolon)", "|": "'|' (pipe)",
                   STAND_IN: "'::' (double colon)"}
PARQUET_EXTENSIONS = (".parquet", ".pq")
LIBFM_EXTENSIONS = (".libfm", ".libsvm", ".svm")
SNIFF_CHARS = 1 << 20
HEADER_PROBE_ROWS = 200     # the first lines whose cells decide whether the first one is a header
MISSING_TEXT = set(pacsv.ConvertOptions().null_values)     # cells pyarrow reads as missing ("", "NA", "null", ...)
MOVIELENS_NAMES = ["user_id", "item_id", "rating", "timestamp"]     # u.data, ratings.dat: no header line
_MB = 1024 * 1024
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"     # one way to match each number: no backtracking blow-up
_LIBFM_LINE = rf"^\s*{_NUMBER}(?:\s+\d+:{_NUMBER})*\s*$"
# a column name: a letter first, then letters, spaces, '_', '.', '-' and numbers of at most 4 digits that no
# letter follows ("price_2019", "C14", "User ID"; not the values "fb93a2c1", "68fd1e64", "01-Jan-1995")
_NAME = re.compile(r"[^\W\d](?:[^\W\d]|[ .\-]|\d{1,4}(?![^\W_]))*")
_NAME_CHARS = 64
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_ESCAPED = re.compile("[\udc80-\udcff]")        # a byte that is not UTF-8, kept by the "surrogateescape" handler
_NOT_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")     # a character that is not ASCII, decoded from UTF-8
_ENCODING_NOTES = {
    "latin-1": "decoded as Latin-1 (not valid UTF-8)",
    "cp1252": "decoded as Windows-1252 (not valid UTF-8)",
    "utf-16": "decoded as UTF-16",
    "utf-16-le": "decoded as UTF-16",
    "utf-16-be": "decoded as UTF-16",
}
_8BIT_NAMES = {"latin-1": "Latin-1", "cp1252": "Windows-1252"}
_GARBAGE = (
    "{name} does not look like a text table (CSV/TSV), a Parquet file or a libFM file "
    "({why}); upload the data as CSV, TSV, Parquet or libFM."
)


@dataclass
class RawTable:
    """A file as read, before any role is guessed. ``encoding``: the text's, or "utf-8+latin-1" /
    "utf-8+cp1252" for UTF-8 text with some lines in that encoding (named in ``notes``)."""

    frame: pd.DataFrame
    file_format: str  # "csv" | "tsv" | "parquet" | "libfm"
    encoding: str | None
    delimiter: str | None
    notes: list[str] = field(default_factory=list)
    header: bool = True         # text: whether the first line was read as the column names
    # the cells of a first line read as data because it looked so (no names were given): the guess to undo
    # by giving these cells as the names
    first_line: list[str] | None = None


def read_table(
    source: bytes | str | os.PathLike,
    filename: str | None = None,
    *,
    delimiter: str | None = None,
    names: list[str] | None = None,
    max_bytes: int | None = None,
) -> RawTable:
    """Read ``source`` (upload bytes or a path) into a :class:`RawTable`."""
    name, ext, data = _load(source, filename, _size_cap(max_bytes))
    if not data or data.isspace():
        raise DataError(f"{name} is empty; upload a file with a header line and at least one data row.")
    if is_parquet(ext, data[:4]):
        return _read_parquet(name, data)
    text, encoding, notes = _decode(name, data)
    if not text or text.isspace():
        raise DataError(f"{name} is empty; upload a file with a header line and at least one data row.")
    if ext in LIBFM_EXTENSIONS or (delimiter is None and names is None and _looks_libfm(text)):
        return RawTable(_read_libfm(name, text), "libfm", encoding, None, notes)
    return _read_delimited(name, data, text, encoding, notes, delimiter, names)


def is_parquet(extension: str, magic: bytes) -> bool:
    """Whether a file with this (lower-case) extension and these first 4 bytes is read as Parquet."""
    return extension in PARQUET_EXTENSIONS or magic == b"PAR1"


def check_width(name: str, n_columns: int, where: str) -> None:
    """Refuse a table of more than MAX_COLUMNS columns (``where``: what they were counted in)."""
    if n_columns > MAX_COLUMNS:
        raise DataError(
            f"{name} has {n_columns:,} columns ({where}); CrossBoard reads at most {MAX_COLUMNS:,}, each "
            "becoming a field the models see. Keep the columns that describe the users, the items and the "
            "context (drop the rest) and upload it again."
        )


# --- loading and size cap -------------------------------------------------------------------------


def _size_cap(max_bytes: int | None) -> int:
    """The upload limit in bytes: the argument, else $CROSSBOARD_MAX_UPLOAD_MB, else DEFAULT_MAX_MB."""
    if max_bytes is not None:
        return max_bytes
    env = os.environ.get("CROSSBOARD_MAX_UPLOAD_MB")
    if not env:
        return DEFAULT_MAX_MB * _MB
    try:
        return int(float(env) * _MB)
    except ValueError:
        raise SettingsError(f"CROSSBOARD_MAX_UPLOAD_MB={env!r} is not a number of megabytes; e.g. 1000") from None


def _load(source: bytes | str | os.PathLike, filename: str | None, cap: int) -> tuple[str, str, bytes]:
    """The name for messages, the lower-case extension and the bytes; refuses files over ``cap``."""
    if isinstance(source, bytes | bytearray | memoryview):
        name = f"'{filename}'" if filename else "the upload"
        _check_size(name, len(source), cap)
        return name, Path(filename or "").suffix.lower(), bytes(source)
    path = Path(source)
    name = f"'{filename or path.name}'"
    if not path.is_file():
        raise DataError(f"{name} was not found at {str(path)!r}; check the path.")
    _check_size(name, path.stat().st_size, cap)
    return name, Path(filename or path.name).suffix.lower(), path.read_bytes()


def _check_size(name: str, size: int, cap: int) -> None:
    if size > cap:
        raise DataError(
            f"{name} is {_size(size)}, over the upload limit of {_size(cap)}; upload a "
            "smaller sample or raise the limit with the environment variable CROSSBOARD_MAX_UPLOAD_MB "
            "(e.g. CROSSBOARD_MAX_UPLOAD_MB=2000)."
        )


def _size(n_bytes: int) -> str:
    return f"{n_bytes / _MB:,.1f} MB" if n_bytes >= _MB / 10 else f"{n_bytes:,} bytes"


# --- text decoding ----------------------------------------------------------------------------------


def _decode(name: str, data: bytes) -> tuple[str, str, list[str]]:
    """Decode text as UTF-8, UTF-16 or Latin-1 (Windows-1252); refuse binary garbage. Text that is UTF-8
    but for some lines keeps those lines' UTF-8 and decodes only them as 8-bit text (``_mixed_8bit``)."""
    encoding = _marked_encoding(name, data)
    notes: list[str] = []
    try:
        text = data.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        if encoding is not None:
            shown = "UTF-8" if encoding == "utf-8-sig" else encoding.upper()
            raise DataError(
                f"{name} could not be decoded as {shown} (bad bytes at offset {exc.start}); save it again "
                "as UTF-8 text and upload it again."
            ) from None
        text = data.decode("utf-8", "surrogateescape")
        if _NOT_ASCII.search(text):
            text, encoding, notes = _mixed_8bit(text)
        else:
            text, encoding = _decode_8bit(data)
    sample = text[:SNIFF_CHARS]
    controls = len(_CONTROL.findall(sample))
    if controls > 0.01 * len(sample):
        why = f"{controls:,} control characters in the first {len(sample):,} characters"
        raise DataError(_GARBAGE.format(name=name, why=why))
    notes = notes or ([_ENCODING_NOTES[encoding]] if encoding in _ENCODING_NOTES else [])
    return text, encoding or "utf-8", notes


def _marked_encoding(name: str, data: bytes) -> str | None:
    """UTF-8-with-BOM or UTF-16 from a byte-order mark or the NUL pattern; None for plain 8-bit text."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = np.frombuffer(data[:4096], dtype=np.uint8)
    zeros_even, zeros_odd = int((head[0::2] == 0).sum()), int((head[1::2] == 0).sum())
    if zeros_odd > 0.3 * len(head) / 2 and zeros_even < zeros_odd / 10:
        return "utf-16-le"
    if zeros_even > 0.3 * len(head) / 2 and zeros_odd < zeros_even / 10:
        return "utf-16-be"
    if zeros_even or zeros_odd or b"\x00" in data:
        raise DataError(_GARBAGE.format(name=name, why="it contains NUL bytes"))
    return None


def _decode_8bit(data: bytes) -> tuple[str, str]:
    """Text that is not UTF-8: Windows-1252 when it uses bytes 0x80-0x9f and decodes so, else Latin-1."""
    if re.search(rb"[\x80-\x9f]", data):
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1"), "latin-1"


def _mixed_8bit(escaped: str) -> tuple[str, str, list[str]]:
    """UTF-8 text (``escaped``: decoded with "surrogateescape") whose lines holding bytes that are not UTF-8
    are decoded as 8-bit text (``_decode_8bit``, all of them alike); -> (text, "utf-8+<encoding>", the note
    naming those lines). Linear in the text's length."""
    spans, lines, line, pos = [], [], 1, 0
    while (hit := _ESCAPED.search(escaped, pos)) is not None:
        start = escaped.rfind("\n", 0, hit.start()) + 1          # scans back to the line's start only
        end = escaped.find("\n", hit.start())
        end = len(escaped) if end < 0 else end
        line += escaped.count("\n", pos, start)
        spans.append((start, end))
        lines.append(line)
        pos = end
    fixed, encoding = _decode_8bit(b"\n".join(escaped[a:b].encode("utf-8", "surrogateescape") for a, b in spans))
    pieces, done = [], 0
    for (start, end), text in zip(spans, fixed.split("\n"), strict=True):
        pieces += [escaped[done:start], text]
        done = end
    named = [f"{n:,}" for n in lines[:5]] + ([f"{len(lines) - 5:,} more"] if len(lines) > 5 else [])
    shown = f"{', '.join(named[:-1])} and {named[-1]}" if len(named) > 1 else named[0]
    note = (f"line{'s' * (len(lines) > 1)} {shown} {'are' if len(lines) > 1 else 'is'} not valid UTF-8 and "
            f"{'were' if len(lines) > 1 else 'was'} decoded as {_8BIT_NAMES[encoding]}, the other lines as UTF-8; "
            "check those lines, or save the file as UTF-8")
    return "".join(pieces) + escaped[done:], f"utf-8+{encoding}", [note]


# --- Parquet ------------------------------------------------------------------------------------------


_FIXED_BYTES = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 8}   # decoded, per value


def open_parquet(name: str, source: bytes | Path) -> pq.ParquetFile:
    """The Parquet file ``source`` (its bytes, or a path), checked before any value is decoded: its metadata
    at most MAX_PARQUET_FOOTER bytes, at most MAX_COLUMNS columns with distinct names, each of a type
    ``check_parquet_type`` accepts. Strings stored with a dictionary are read as one, so their decoded size
    is known before they are expanded (``flatten_parquet_column``)."""
    def opened(**options) -> pq.ParquetFile:
        return pq.ParquetFile(pa.BufferReader(source) if isinstance(source, bytes) else str(source),
                              coerce_int96_timestamp_unit="us", **options)

    if isinstance(source, bytes):
        size, tail = len(source), source[-8:]
    else:
        size = source.stat().st_size
        with open(source, "rb") as f:
            f.seek(max(size - 8, 0))
            tail = f.read()
    footer = int.from_bytes(tail[:4], "little")
    if tail[4:] == b"PAR1" and MAX_PARQUET_FOOTER < footer < size:
        raise DataError(f"{name} has {_size(footer)} of Parquet metadata (over {_size(MAX_PARQUET_FOOTER)}: far too "
                        "many row groups or columns); write it again with fewer, larger row groups "
                        "(e.g. pandas' to_parquet) and upload it again.")
    try:
        meta = opened().metadata
        schema = meta.schema.to_arrow_schema()
        check_width(name, len(schema), "in its Parquet metadata")
        _check_names(name, [str(n).strip() for n in schema.names])
        for column in schema:
            check_parquet_type(name, column.name, column.type)
        dictionary = set()
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for j in range(meta.num_columns):
                chunk = group.column(j)
                if chunk.physical_type == "BYTE_ARRAY" and chunk.has_dictionary_page:
                    dictionary.add(chunk.path_in_schema)
        return opened(metadata=meta, read_dictionary=sorted(dictionary))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(name, exc) from None


def _unreadable(name: str, exc: Exception) -> DataError:
    return DataError(f"{name} could not be read as Parquet ({_short(exc)}); the file may be truncated or "
                     "corrupted: export it again, or upload it as CSV.")


def row_group_sizes(meta: pq.FileMetaData) -> np.ndarray:
    """int64 [row groups, 3]: each row group's rows, values (of every leaf column, list items and missing
    values counted) and bytes once decoded (fixed-width values at their width, strings as stored: the
    expansion of a dictionary is measured when read), from the file's metadata."""
    widths = [meta.schema.column(j).length or 0 for j in range(meta.num_columns)]
    sizes = np.zeros((meta.num_row_groups, 3), np.int64)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        sizes[g, 0] = group.num_rows
        for j in range(meta.num_columns):
            chunk = group.column(j)
            kind = chunk.physical_type
            sizes[g, 1] += chunk.num_values
            sizes[g, 2] += (chunk.total_uncompressed_size if kind == "BYTE_ARRAY" else
                            chunk.num_values * (widths[j] if kind == "FIXED_LEN_BYTE_ARRAY" else _FIXED_BYTES[kind]))
    return sizes


def too_big_for_memory(file: pq.ParquetFile) -> str | None:
    """What puts a Parquet file past the in-memory limits (MAX_PARQUET_VALUES, MAX_PARQUET_BYTES), read from
    its metadata, or None when it fits."""
    rows, values, n_bytes = (int(n) for n in row_group_sizes(file.metadata).sum(axis=0))
    if values > MAX_PARQUET_VALUES:
        return f"{values:,} values ({rows:,} rows), over the limit of {MAX_PARQUET_VALUES:,}"
    if n_bytes > MAX_PARQUET_BYTES:
        return f"{_size(n_bytes)} of values ({rows:,} rows), over the limit of {_size(MAX_PARQUET_BYTES)}"
    return None


def _read_parquet(name: str, data: bytes) -> RawTable:
    """Read Parquet within MAX_PARQUET_VALUES and MAX_PARQUET_BYTES (from its metadata, before decoding),
    one column at a time (``flatten_parquet_column``), so the Arrow copy of one column at most is held
    beside the DataFrame."""
    file = open_parquet(name, data)
    why = too_big_for_memory(file)
    if why:
        raise _too_big(name, why)
    notes: list[str] = []
    series, used = {}, 0
    try:
        for i, col_name in enumerate(file.schema_arrow.names):
            column = file.read(columns=[col_name]).column(col_name)
            flat = flatten_parquet_column(name, str(col_name), column, notes, used)
            used += flat.nbytes
            series[f"c{i}"] = flat.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(name, exc) from None
    frame = pd.DataFrame(series)
    frame.columns = [str(n).strip() for n in file.schema_arrow.names]
    _check_rows(name, frame)
    return RawTable(frame, "parquet", None, None, notes)


def _too_big(name: str, what: str) -> DataError:
    return DataError(f"{name} decodes into {what}: too much to read in memory. Ingest it with `crossboard ingest FILE "
                     "--memory-mb 0`, which reads Parquet in blocks, or split it into smaller files.")


def check_parquet_type(name: str, col_name: str, kind: pa.DataType) -> None:
    """Refuse a column whose values are not plain: records (struct), maps, unions, lists of those or of
    lists, and types CrossBoard has no reading of (e.g. intervals). Plain: numbers, decimals, text, binary,
    dates, times, durations, a dictionary or list of those."""
    kind = _storage(kind)
    shown = clip(str(kind), 80)
    if _is_list(kind):
        inner = _storage(kind.value_type)
        if pa.types.is_nested(inner):
            raise DataError(f"column {col_name!r} of {name} holds lists of records or of lists ({shown}); make it a "
                            "list of plain values (ids, numbers or words) or split it into plain columns, and "
                            "upload it again.")
        kind = inner
    if pa.types.is_map(kind):
        raise DataError(f"column {col_name!r} of {name} holds key-value maps ({shown}); give each key a column of "
                        "its own and upload it again.")
    if pa.types.is_nested(kind):
        raise DataError(f"column {col_name!r} of {name} holds nested records ({shown}); flatten it into plain "
                        "columns and upload it again.")
    if not any(test(kind) for test in _PLAIN):
        raise DataError(f"column {col_name!r} of {name} holds {shown} values, which CrossBoard cannot read; store "
                        "them as numbers or text and upload it again.")


_TEXT = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view, pa.types.is_binary,
         pa.types.is_large_binary, pa.types.is_fixed_size_binary, pa.types.is_binary_view)
_PLAIN = (pa.types.is_null, pa.types.is_boolean, pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, *_TEXT,
          pa.types.is_date, pa.types.is_timestamp, pa.types.is_time, pa.types.is_duration)


def _storage(kind: pa.DataType) -> pa.DataType:
    """The type values are held in: a dictionary's value type, an extension type's storage."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return kind.storage_type if isinstance(kind, pa.ExtensionType) else kind


def _is_list(kind: pa.DataType) -> bool:
    return any(test(kind) for test in (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list,
                                       pa.types.is_list_view, pa.types.is_large_list_view))


def flatten_parquet_column(name: str, col_name: str, column: pa.ChunkedArray | pa.Array, notes: list[str],
                           used: int = 0, as_text: bool = False) -> pa.ChunkedArray:
    """A column (of a type ``check_parquet_type`` accepts) as values pandas holds plainly, its strings
    decoded only while ``used`` (the bytes of the columns before it) and theirs stay within MAX_PARQUET_BYTES:
    a dictionary becomes its values (their size checked first); a list '|'-joined
    text; binary UTF-8 text (refused, naming the row, where it is not UTF-8); a decimal int64 (whole, up to
    18 digits), text (whole, longer) or float64; float16 float32; a time of day text; dates and times outside
    pandas' range (1677-09-22 to 2262-04-11) ISO text, with a note, as are all of them with ``as_text``."""
    column = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    if isinstance(column.type, pa.ExtensionType):
        column = pa.chunked_array([chunk.storage for chunk in column.chunks], column.type.storage_type)
    expanded = _dictionary_bytes(column)
    if used + expanded > MAX_PARQUET_BYTES:
        before = f" ({_size(used + expanded)} with the columns before it)" if used else ""
        raise DataError(f"column {col_name!r} of {name} decodes into {_size(expanded)} of text{before}, over the limit "
                        f"of {_size(MAX_PARQUET_BYTES)}: its values are very long, or repeated very often. Drop the "
                        "column, or split the file into smaller ones, and upload it again.")
    kind = _storage(column.type)
    if _is_list(kind):
        notes.append(f"list column {col_name!r} was joined into '|'-delimited text")
        try:
            return pc.binary_join(column.cast(pa.list_(pa.string())), "|")
        except pa.ArrowInvalid:
            raise DataError(f"list column {col_name!r} of {name} holds values that are not UTF-8 text; store them "
                            "as text (e.g. hexadecimal) and upload it again.") from None
    if pa.types.is_dictionary(column.type):
        column = column.cast(kind)
    if any(test(kind) for test in _TEXT):
        return _utf8(name, col_name, column)
    if pa.types.is_floating(kind) and kind.bit_width == 16:
        return column.cast(pa.float32())
    if pa.types.is_decimal(kind):
        whole = kind.scale <= 0
        return column.cast(pa.int64() if whole and kind.precision - kind.scale <= 18 else
                           pa.string() if whole else pa.float64())
    if pa.types.is_time(kind):
        return column.cast(pa.string())
    if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        return _dates(col_name, column, notes, as_text)
    return column


def _dictionary_bytes(column: pa.ChunkedArray) -> int:
    """The bytes the dictionary-encoded strings of ``column`` (or of its lists) take once decoded."""
    total = 0
    for chunk in column.chunks:
        while _is_list(chunk.type):
            chunk = chunk.flatten()
        if pa.types.is_dictionary(chunk.type) and any(test(chunk.type.value_type) for test in _TEXT):
            total += pc.sum(pc.binary_length(chunk.dictionary).take(chunk.indices)).as_py() or 0
    return total


def _utf8(name: str, col_name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A text or binary column as text, or DataError naming its first value that is not UTF-8."""
    offset = 0
    for chunk in column.chunks:
        if not _is_utf8(chunk):
            low, high = 0, len(chunk)        # the first bad value is in [low, high)
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if _is_utf8(chunk.slice(low, mid - low)) else (low, mid)
            raise DataError(f"column {col_name!r} of {name} holds binary values that are not UTF-8 text (row "
                            f"{offset + low + 1:,}, type {column.type}); store them as text (e.g. hexadecimal) "
                            "and upload it again.")
        offset += len(chunk)
    return column if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) else \
        column.cast(pa.large_string())


def _is_utf8(array: pa.Array) -> bool:
    try:
        array.cast(pa.large_binary()).cast(pa.large_string())      # the second cast checks the bytes
        return True
    except pa.ArrowInvalid:
        return False


def _dates(col_name: str, column: pa.ChunkedArray, notes: list[str], as_text: bool) -> pa.ChunkedArray:
    """Dates or times as they are where pandas holds them (in nanoseconds: 1677 to 2262), else ISO text."""
    if not as_text:
        try:
            column.cast(pa.timestamp("ns", getattr(column.type, "tz", None)))
            return column
        except pa.ArrowInvalid:
            low, high = (pc.min_max(column)[end].cast(pa.string()).as_py() for end in ("min", "max"))
            notes.append(f"column {col_name!r} holds dates outside 1677–2262 (from {low} to {high}), which pandas "
                         "cannot hold as times: read as text")
    return column.cast(pa.string())


# --- libFM --------------------------------------------------------------------------------------------


def _looks_libfm(text: str) -> bool:
    """True when the first lines are ``label idx:val ...`` rows with at least one pair."""
    lines = [ln for ln in text[:SNIFF_CHARS].splitlines()[:20] if ln.strip()][:5]
    return any(":" in ln for ln in lines) and all(re.match(_LIBFM_LINE, ln) for ln in lines)


def _read_libfm(name: str, text: str) -> pd.DataFrame:
    """Parse libFM/libSVM lines into ``label`` + ``f1..fN`` tokens or dense ``x<idx>`` columns; at most
    MAX_LIBFM_COLUMNS of either."""
    lines = pa.array(text.split("\n")).cast(pa.string())
    lines = pc.utf8_rtrim(lines, characters="\r")
    numbers = np.flatnonzero(pc.utf8_length(pc.utf8_trim_whitespace(lines)).to_numpy() > 0) + 1
    lines = lines.take(pa.array(numbers - 1))
    if len(lines) == 0:
        raise DataError(f"{name} has no data rows; upload a libFM file with lines like '1 3:1 17:1'.")
    ok = pc.match_substring_regex(lines, _LIBFM_LINE).to_numpy(zero_copy_only=False)
    if not ok.all():
        bad = int(np.argmin(ok))
        raise DataError(
            f"line {numbers[bad]} of {name} is not a libFM row ('label index:value ...'): "
            f"{clip(lines[bad].as_py(), 60)!r}; fix or remove that line and upload again."
        )
    tokens = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(lines))
    counts = pc.list_value_length(tokens).to_numpy() - 1
    label_text = pc.list_element(tokens, 0)
    label = label_text.cast(pa.float64()).to_numpy()
    if not np.isfinite(label).all():
        bad = int(np.argmin(np.isfinite(label)))
        raise DataError(f"line {numbers[bad]} of {name} has the label {clip(label_text[bad].as_py(), 30)!r}, past "
                        "the range of numbers (about ±1.8e308); fix that line and upload again.")
    pairs = pc.split_pattern(pc.list_flatten(pc.list_slice(tokens, 1)), ":")
    index = pc.list_element(pairs, 0)
    value = pc.list_element(pairs, 1).cast(pa.float64()).to_numpy()
    if len(set(counts.tolist())) == 1 and counts[0] > 0 and (value == 1).all():
        if counts[0] > MAX_LIBFM_COLUMNS:
            raise DataError(
                f"{name} has {counts[0]:,} features on every row, each of which would become a column; CrossBoard "
                f"reads libFM files of at most {MAX_LIBFM_COLUMNS:,}. Keep the fields the models should see, or "
                "convert it to a CSV with one column per field, and upload that."
            )
        fields = index.to_numpy(zero_copy_only=False).reshape(len(counts), counts[0])
        frame = pd.DataFrame({f"f{j + 1}": pd.array(fields[:, j], dtype="str") for j in range(counts[0])})
    else:
        frame = _dense_libfm(name, _libfm_indices(name, index, counts, numbers), value, counts)
    frame.insert(0, "label", _as_int_if_integral(label))
    return frame


def _libfm_indices(name: str, index: pa.Array, counts: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """The feature indices as int64, or DataError naming the line of one past int64."""
    try:
        return index.cast(pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        long = np.flatnonzero(pc.utf8_length(index).to_numpy() >= 19)       # int64 has 19 digits
        at = next(i for i in long if int(index[i].as_py()) > np.iinfo(np.int64).max)
        line = numbers[np.repeat(np.arange(len(counts)), counts)[at]]
        raise DataError(f"line {line} of {name} has the feature index {clip(index[at].as_py(), 30)}, past the largest "
                        f"CrossBoard reads ({np.iinfo(np.int64).max:,}); number the features from 0 and upload "
                        "again.") from None


def _dense_libfm(name: str, index: np.ndarray, value: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """Dense float columns ``x<idx>`` (absent → 0.0) when there are few distinct indices."""
    distinct = np.unique(index)
    if len(distinct) > MAX_LIBFM_COLUMNS:
        raise DataError(
            f"{name} uses {len(distinct):,} distinct feature indices with a varying number of features "
            f"per row; CrossBoard can expand libFM into at most {MAX_LIBFM_COLUMNS:,} dense columns. "
            "Convert it to a CSV with one column per field and upload that."
        )
    cells = len(counts) * len(distinct)
    if cells > MAX_LIBFM_CELLS:
        raise DataError(
            f"{name} has a varying number of features per row, so it would expand into {len(counts):,} rows × "
            f"{len(distinct):,} dense columns = {cells:,} cells, over the limit of {MAX_LIBFM_CELLS:,}. "
            "Convert it to a CSV with one column per field (the same number of fields on every row) and upload "
            "that, or upload fewer rows."
        )
    matrix = np.zeros((len(counts), len(distinct)), dtype=np.float64)
    matrix[np.repeat(np.arange(len(counts)), counts), np.searchsorted(distinct, index)] = value
    return pd.DataFrame(matrix, columns=[f"x{i}" for i in distinct])


def _as_int_if_integral(values: np.ndarray) -> np.ndarray:
    """Finite float64 labels [n] as int64 when all are whole numbers within int64, else as they are."""
    whole = np.all(values == np.round(values)) and (len(values) == 0 or np.abs(values).max() < 2**63)
    return values.astype(np.int64) if whole else values


# --- delimited text -------------------------------------------------------------------------------------


def _read_delimited(
    name: str,
    data: bytes,
    text: str,
    encoding: str,
    notes: list[str],
    delimiter: str | None,
    names: list[str] | None,
) -> RawTable:
    """Read CSV/TSV (any of the sniffed delimiters) with a header line or the given ``names``; without
    names, a first line that looks like data (``_first_line_is_data``) is read as data, with a note."""
    body = text.lstrip("\r\n") if text[:1] in ("\r", "\n") else text
    lines_before = text[: len(text) - len(body)].count("\n")
    if delimiter == DOUBLE_COLON or (delimiter is None and _double_colon_separated(body[:SNIFF_CHARS])):
        body, delimiter = body.replace(DOUBLE_COLON, STAND_IN), STAND_IN
    sample = body[:SNIFF_CHARS]
    delimiter = _choose_delimiter(name, sample, delimiter)
    head = body[: max(SNIFF_CHARS, body.find("\n") + 1)]
    rows = _csv_rows(head[: head.rfind("\n") + 1] or head, delimiter, HEADER_PROBE_ROWS)
    first = (rows or [[]])[0]
    first_line = None
    if names is not None:
        columns = [str(n) for n in names]
        if len(columns) != len(first):
            raise DataError(
                f"you gave {len(columns)} column names but the first line of {name} has {len(first)} "
                f"fields (split on {DELIMITER_NAMES.get(delimiter, repr(delimiter))}); give one name per field."
            )
        header = [c.strip() for c in columns] == [c.strip() for c in first]     # the names repeat the header line
    elif _first_line_is_data(first, rows[1:]):
        columns, header, first_line = [f"column_{i + 1}" for i in range(len(first))], False, first
    else:
        columns, header = _header_names(first, notes), True
    check_width(name, len(columns), "in its first line")
    _check_names(name, columns)
    payload = data if encoding == "utf-8" and body is text else body.encode("utf-8")
    frame = _parse_rows(name, payload, delimiter, columns, header, lines_before)
    _check_rows(name, frame)
    if first_line is not None:
        if _movielens_layout(frame):
            frame.columns = MOVIELENS_NAMES
        notes.append(_headerless_note(first_line, list(frame.columns)))
    file_format = "tsv" if delimiter == "\t" else "csv"
    return RawTable(frame, file_format, encoding, DOUBLE_COLON if delimiter == STAND_IN else delimiter, notes,
                    header, first_line)


def _first_line_is_data(first: list[str], below: list[list[str]]) -> bool:
    """Whether the first line holds values rather than column names: it has lines of its width below it,
    every filled cell of it is like its column's values there (a number; text that recurs there, has their
    length and characters, or could be no column name) and at least one cell is filled. A text cell above
    numbers, or a name-like one unlike its column's values, is a name: the line is the header."""
    below = [row for row in below if len(row) == len(first)]
    if not below:
        return False
    filled = False
    for j, cell in enumerate(c.strip() for c in first):
        if cell in MISSING_TEXT:
            continue
        filled = True
        if re.fullmatch(_NUMBER, cell):
            continue
        values = [v for row in below if (v := row[j].strip()) not in MISSING_TEXT]
        if values and all(re.fullmatch(_NUMBER, v) for v in values):
            return False
        if _looks_like_a_name(cell) and cell not in values and not _shaped_like(cell, values):
            return False
    return filled


def _looks_like_a_name(cell: str) -> bool:
    return len(cell) <= _NAME_CHARS and _NAME.fullmatch(cell) is not None


def _shaped_like(cell: str, values: list[str]) -> bool:
    """Whether ``values`` all have the length of ``cell`` and hold every character of it (codes, hashes)."""
    return bool(values) and {len(v) for v in values} == {len(cell)} and set(cell) <= set("".join(values))


def _movielens_layout(frame: pd.DataFrame) -> bool:
    """Whether a table read without a header is MovieLens' ratings (u.data, ratings.dat): whole-number
    user and item ids, a rating from 0 to 10 and whole epoch seconds, in that order."""
    if frame.shape[1] != len(MOVIELENS_NAMES):
        return False
    user, item, rating, time = (frame.iloc[:, j] for j in range(len(MOVIELENS_NAMES)))
    if not all(pd.api.types.is_integer_dtype(c.dtype) for c in (user, item, time)) \
            or not pd.api.types.is_numeric_dtype(rating.dtype):
        return False
    return bool(0 <= rating.min() and rating.max() <= 10 and EPOCH_SECONDS[0] <= time.min()
                and time.max() <= EPOCH_SECONDS[1])


def _headerless_note(first_line: list[str], columns: list[str]) -> str:
    if columns == MOVIELENS_NAMES:
        named = f"{', '.join(columns)} (MovieLens' ratings: whole-number user and item ids, a rating, epoch seconds)"
    else:
        named = columns[0] + (f" to {columns[-1]}" if len(columns) > 1 else "")
    return (f"read without a header line: the first line ({clip(', '.join(first_line), 60)}) looks like data, not "
            f"column names (each cell is like the values below it), so it is a row, and the columns are named "
            f"{named}. If that line is the header, give its cells as the column names: --names on the command "
            "line, 'Read the first line as the header' on the Data page")


def _double_colon_separated(sample: str) -> bool:
    """Every one of the first lines holds the same, non-zero number of '::' (MovieLens .dat)."""
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    return bool(lines) and all(line.count(DOUBLE_COLON) == lines[0].count(DOUBLE_COLON) > 0 for line in lines)


def _choose_delimiter(name: str, sample: str, wanted: str | None) -> str:
    """The user's delimiter (checked against the sniffed one) or the sniffed one."""
    sniffed, n_fields = _sniff(sample)
    if wanted is None:
        return sniffed
    wanted = {"\\t": "\t", "tab": "\t"}.get(wanted, wanted)
    if len(wanted) != 1:
        raise DataError(f"the delimiter for {name} must be one character, not {wanted!r}.")
    if wanted != sniffed and n_fields > 1 and _field_counts(sample, wanted)[0] == 1:
        raise DataError(
            f"{name} has a single column when split on {DELIMITER_NAMES.get(wanted, repr(wanted))}, but it "
            f"seems to use {DELIMITER_NAMES[sniffed]} ({n_fields} columns); choose that delimiter or "
            "leave it on auto-detect."
        )
    return wanted


def _sniff(sample: str) -> tuple[str, int]:
    """The candidate delimiter whose field count is most consistent (and largest) over the sample."""
    best, best_key = ",", (0.0, 1)
    for candidate in DELIMITERS:
        n_fields, share = _field_counts(sample, candidate)
        if n_fields > 1 and (share, n_fields) > best_key:
            best, best_key = candidate, (share, n_fields)
    return best, best_key[1]


def _field_counts(sample: str, delimiter: str) -> tuple[int, float]:
    """The most common number of fields per row in ``sample`` and the share of rows having it."""
    lines = sample[: sample.rfind("\n") + 1] or sample
    counts = [len(row) for row in _csv_rows(lines, delimiter, 200)]
    if not counts:
        return 1, 0.0
    values, freq = np.unique(counts, return_counts=True)
    return int(values[np.argmax(freq)]), float(freq.max() / len(counts))


def _csv_rows(sample: str, delimiter: str, limit: int) -> list[list[str]]:
    """Up to ``limit`` non-empty rows of ``sample`` split by the csv module (as far as it can)."""
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(sample), delimiter=delimiter):
            if row:
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def _header_names(first: list[str], notes: list[str]) -> list[str]:
    """Header cells stripped of whitespace; empty ones become ``column_<n>``."""
    columns = [cell.strip() for cell in first]
    empty = [i for i, c in enumerate(columns) if not c]
    for i in empty:
        columns[i] = f"column_{i + 1}"
    if empty:
        notes.append(f"empty header cells were named {', '.join(columns[i] for i in empty)}")
    return columns


def _check_names(name: str, columns: list[str]) -> None:
    """Refuse duplicate column names (pandas would silently rename them)."""
    seen, dups = set(), []
    for col in columns:
        if col in seen and col not in dups:
            dups.append(col)
        seen.add(col)
    if dups:
        raise DataError(
            f"{name} has duplicate column names: {', '.join(repr(d) for d in dups)}; rename them so every "
            "column has its own name and upload again."
        )


def _check_rows(name: str, frame: pd.DataFrame) -> None:
    if len(frame) == 0:
        raise DataError(f"{name} has a header but no data rows; upload a file with at least one row of data.")


def _parse_rows(
    name: str, payload: bytes, delimiter: str, columns: list[str], header: bool, lines_before: int
) -> pd.DataFrame:
    """Parse the rows with pyarrow as text, then convert columns that are all numbers."""
    keys = [f"c{i}" for i in range(len(columns))]
    try:
        table, bad = _read_text_columns(payload, delimiter, keys, header, use_threads=True)
        if bad is not None:  # read again on one thread, where the first bad row is met first
            table, bad = _read_text_columns(payload, delimiter, keys, header, use_threads=False)
    except pa.ArrowException as exc:
        raise DataError(f"{name} could not be parsed as a table ({_short(exc)}); check the file.") from None
    if bad is not None:
        raise _ragged_error(name, payload, bad, lines_before)
    text = table.columns
    del table
    converted = []
    for i in range(len(text)):      # drop each text column once converted, to bound peak memory
        converted.append(_convert(text[i]))
        text[i] = None
    frame = pa.table(converted, names=keys).to_pandas(self_destruct=True)
    frame.columns = columns
    return frame


def _read_text_columns(payload: bytes, delimiter: str, keys: list[str], header: bool, use_threads: bool):
    """(table of text columns, None), or (None, the invalid row) when a row has the wrong field count."""
    bad = []

    def on_bad_row(row):
        bad.append(row)
        return "error"

    try:
        table = pacsv.read_csv(
            io.BytesIO(payload),
            read_options=pacsv.ReadOptions(column_names=keys, skip_rows=int(header), use_threads=use_threads),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=b'"' in payload, invalid_row_handler=on_bad_row
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(keys, pa.string()), strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid:
        if bad:
            return None, bad[0]
        raise
    return table, None


def _ragged_error(name: str, payload: bytes, row, lines_before: int) -> DataError:
    """A DataError naming the physical line of the bad row and its field counts."""
    line = _line_number(payload, row.text.encode("utf-8"), row.number) + lines_before
    return DataError(
        f"line {line} of {name} has {row.actual_columns} fields but the header has {row.expected_columns}; "
        "fix that row (a stray delimiter or an unquoted value containing one?) and upload again."
    )


def _line_number(payload: bytes, row_text: bytes, record: int | None) -> int:
    """The 1-based line at which ``row_text`` starts as a whole line (else the record number)."""
    start = 0
    while (pos := payload.find(row_text, start)) >= 0:
        end = pos + len(row_text)
        if (pos == 0 or payload[pos - 1] in b"\r\n") and (end == len(payload) or payload[end] in b"\r\n"):
            return payload.count(b"\n", 0, pos) + 1
        start = pos + 1
    return record or 0


NUMBER_TYPES = (pa.int64(), pa.float64())      # a text column's kinds, narrowest first; past them: text
PROBE_ROWS = 4096           # values cast first: a text column fails on them, without a pass over all its rows


def _convert(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return convert_text(column)[0]


def convert_text(column: pa.ChunkedArray | pa.Array, floor: int = 0) -> tuple:
    """(column, kind): integers (kind 0), else floats (1), when every non-empty value parses as one
    (allowing spaces and a '+'), else the text (2). ``floor``: the narrowest kind allowed, so a file
    read in chunks converts every chunk of a column alike."""
    head = column.slice(0, PROBE_ROWS)
    for stripped in (False, True):
        for kind in range(floor, len(NUMBER_TYPES)):
            if _casts(_trimmed(head) if stripped else head, NUMBER_TYPES[kind]):   # the head fails: so does all
                try:
                    return (_trimmed(column) if stripped else column).cast(NUMBER_TYPES[kind]), kind
                except pa.ArrowInvalid:
                    continue
    return column, len(NUMBER_TYPES)


def _trimmed(column):
    return pc.utf8_ltrim(pc.utf8_trim_whitespace(column), characters="+")


def _casts(column, kind) -> bool:
    try:
        column.cast(kind)
        return True
    except pa.ArrowInvalid:
        return False


def _short(exc: Exception) -> str:
    return clip(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 120)

