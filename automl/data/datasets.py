"""Registering an upload as a dataset, and getting its table back on any machine.

A dataset is stored in the database (its Parquet copy, in chunks) or registered by reference: a Parquet
file at a path or URL every worker reads (``inspect_reference``); the database then keeps its SHA-256, and
each worker copies the file into its home, checks it and converts it there as registration did."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from automl.data.columns import ParquetColumns
from automl.data.files import partial_path, removed_on_failure
from automl.data.history_column import item_history_column
from automl.data.infer_schema import infer_schema
from automl.data.names import checked_name, derived_name
from automl.data.read import RawTable, is_parquet, read_table
from automl.data.schema import Schema
from automl.data.stream import HASH_BYTES, copy_to_parquet, file_digest, stream_table
from automl.data.validate import validate
from automl.errors import DataError, DiskFull, NotFoundError, clip, space_for
from storage import Store
from storage.db import database_place
from storage.tables import DatasetRow


@dataclass
class Inspection:
    """An upload read and understood, not yet stored: what the Data page shows before saving."""

    raw: RawTable
    schema: Schema
    digest: str                  # SHA-256 of the uploaded bytes and the reading options (by reference: the bytes)
    filename: str
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None   # why the inferred schema cannot be saved as it is (the user may fix it)
    source_url: str | None = None    # registered by reference: where every worker reads the file


SPLIT_COLUMN = "split"        # the column that separate train / validation / test files are joined by
IN_MEMORY_BYTES = 256 * 2**20   # files on disk past this are read in blocks (automl.data.stream)
DATA_DIRS_ENV = "CROSSBOARD_DATA_DIRS"


def read_bytes(source: bytes | str | os.PathLike) -> bytes:
    data = source if isinstance(source, bytes) else Path(source).read_bytes() if Path(source).is_file() else None
    if data is None:
        raise DataError(f"{source}: no such file; check the path")
    return data


def inspect(source: bytes | str | os.PathLike, filename: str | None = None, *, label: str | None = None,
            task: str | None = None, roles: dict[str, str] | None = None, delimiter: str | None = None,
            names: list[str] | None = None, max_bytes: int | None = None,
            parts: dict[str, tuple[bytes | str | os.PathLike, str | None]] | None = None,
            spool: Path | None = None, memory_bytes: int | None = None) -> Inspection:
    """Read ``source`` and infer its schema (with the user's overrides). Writes nothing but, for a
    file on disk past ``memory_bytes`` (default IN_MEMORY_BYTES), its Parquet copy in the ``spool`` folder: such a file is
    read in blocks (``automl.data.stream``, no size cap) and checked one column at a time. A file
    that cannot be read raises; a schema that does not validate is returned with its ``problem``,
    so the user can change roles before ``save`` validates again.

    ``parts``: separate "valid" and "test" files (source, filename), read like ``source`` (the
    training rows) and joined to it with a ``split`` column, so studies keep that split."""
    options = json.dumps({"delimiter": delimiter, "names": names}, sort_keys=True).encode()
    if spool is not None and not isinstance(source, bytes) and Path(source).is_file() \
            and Path(source).stat().st_size > (IN_MEMORY_BYTES if memory_bytes is None else memory_bytes):
        if parts:
            raise DataError("separate validation/test files are read in memory, and this file is past the "
                            "in-memory limit: join them into one file with a split column (train/valid/test)")
        return inspected_in_blocks(Path(source), filename or Path(source).name,
                                   file_digest(Path(source), options).hexdigest(), Path(spool), label=label,
                                   task=task, roles=roles, delimiter=delimiter, names=names)
    data = read_bytes(source)
    filename = filename or (Path(source).name if not isinstance(source, bytes) else "upload")
    raw = read_table(data, filename, delimiter=delimiter, names=names, max_bytes=max_bytes)
    digest = hashlib.sha256(data + options)
    if parts:
        raw = joined_parts(raw, filename, parts, delimiter, names, max_bytes, digest)
        roles = {**(roles or {}), SPLIT_COLUMN: "split"}
    return understood(raw, infer_schema(raw.frame, label=label, task=task, roles=roles), digest.hexdigest(),
                      filename)


def inspected_in_blocks(path: Path, filename: str, digest: str, spool: Path, *, label: str | None = None,
                        task: str | None = None, roles: dict[str, str] | None = None, delimiter: str | None = None,
                        names: list[str] | None = None) -> Inspection:
    """The Inspection of the file at ``path`` read in blocks into its Parquet copy in ``spool`` (a ``.part``
    named by ``digest`` until ``save`` moves it home); roles are inferred on its first rows."""
    spooled = partial_path(spool / f"{digest}.parquet")
    with removed_on_failure(spooled, f"reading {filename!r} into its Parquet copy", path.stat().st_size):
        raw, head = stream_table(path, filename, spooled, delimiter=delimiter, names=names)
    return understood(raw, infer_schema(head, label=label, task=task, roles=roles), digest, filename)


def inspect_reference(text: str, spool: Path, *, label: str | None = None, task: str | None = None,
                      roles: dict[str, str] | None = None) -> Inspection:
    """Read the Parquet file at ``text`` (``reference_url``) to register it by reference: its bytes are
    copied into ``spool`` HASH_BYTES at a time and hashed (the Inspection's ``digest``: their SHA-256),
    then read in blocks as a large upload is, roles inferred the same way (``inspected_in_blocks``).
    The copy of the bytes is removed; the Parquet copy stays in ``spool`` for ``save``."""
    url = reference_url(text)
    parts = urllib.parse.urlsplit(url)
    filename = PurePosixPath(urllib.parse.unquote(parts.path) if parts.scheme else url).name or url
    source = partial_path(Path(spool) / f"{hashlib.sha256(url.encode()).hexdigest()}.source")
    with removed_on_failure(source, f"copying {url}"):
        digest = copied_from_url(url, source)
        inspection = inspected_in_blocks(source, filename, digest, Path(spool), label=label, task=task, roles=roles)
        source.unlink()
    return replace(inspection, source_url=url)


def reference_url(text: str) -> str:
    """Where every worker reads a dataset registered by reference: a path (made absolute: it must be the
    same on every machine), or a file://, s3://, gs:// or hdfs:// URL as given. DataError for a URL that
    holds credentials: it is stored in the shared database and shown, so they belong in the environment."""
    text = text.strip()
    parts = urllib.parse.urlsplit(text)
    if not parts.scheme:
        return os.path.abspath(os.path.expanduser(text))
    if parts.username or parts.password:
        raise DataError(f"the URL of {parts.scheme}://{parts.hostname or ''}{parts.path} holds credentials; it is "
                        "stored in the database and shown to every user: remove them and give them to each machine "
                        "through the environment instead (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                        "GOOGLE_APPLICATION_CREDENTIALS)")
    return text


def url_blocks(url: str) -> Iterator[bytes]:
    """The bytes of the file at ``url`` (``pyarrow.fs.FileSystem.from_uri``: a local path, file://, s3://,
    gs://, hdfs://), HASH_BYTES at a time; DataError naming the URL when it cannot be read."""
    try:
        filesystem, path = pafs.FileSystem.from_uri(url)
        found = filesystem.get_file_info(path).type
        if found != pafs.FileType.File:
            what = "no file" if found == pafs.FileType.NotFound else "a folder, not a file,"
            raise DataError(f"there is {what} at {url}; name the Parquet file itself, at a path or URL every "
                            "worker reaches")
        with filesystem.open_input_stream(path) as source:
            while block := source.read(HASH_BYTES):
                yield block
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"{url} could not be read ({clip(str(error), 300)}); check the URL (file://, s3://, gs:// "
                        "and hdfs:// are read), that this machine reaches it and has credentials for it in its "
                        "environment") from None


def copied_from_url(url: str, target: Path) -> str:
    """Copy the file at ``url`` into ``target`` a block at a time (memory stays bounded whatever its size);
    -> the SHA-256 (hex) of its bytes. DataError, before anything is written, when it is not Parquet."""
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for block in url_blocks(url):
            if out.tell() == 0 and not is_parquet("", block[:4]):
                raise DataError(f"{url} is not a Parquet file; a dataset registered by reference must be Parquet, "
                                "which every worker reads column by column: convert it (e.g. with pandas: "
                                "read_csv, then to_parquet) and register that, or ingest it without "
                                "--by-reference to keep a copy in the database")
            digest.update(block)
            out.write(block)
        if out.tell() == 0:
            raise DataError(f"{url} is empty; register a Parquet file with at least one row")
    return digest.hexdigest()


def fetched_by_reference(row: DatasetRow, path: Path) -> None:
    """The Parquet copy of a dataset registered by reference written at ``path``: the file at
    ``row.source_url`` copied beside it a block at a time, its SHA-256 checked against ``row.digest``,
    then converted in blocks as registration read it (``copy_to_parquet``); the copied bytes are removed."""
    source = partial_path(path.with_suffix(".source"))
    with removed_on_failure(source, f"copying dataset {row.name!r} from {row.source_url}", row.parquet_bytes):
        now = copied_from_url(row.source_url, source)
        if now != row.digest:
            raise DataError(f"the file at {row.source_url} changed since it was registered as dataset {row.name!r} "
                            f"(digest {row.digest[:12]}, now {now[:12]}); register it again with `crossboard "
                            f"ingest {row.source_url} --by-reference` and start a study on that dataset")
        copy_to_parquet(source, row.filename, path)
        source.unlink()


def understood(raw: RawTable, schema: Schema, digest: str, filename: str) -> Inspection:
    """The Inspection of a table read, with the validation's warnings or its problem."""
    try:
        return Inspection(raw, schema, digest, filename, validate(raw.frame, schema, filename))
    except DataError as error:
        return Inspection(raw, schema, digest, filename, problem=str(error))


def server_roots(home: Path) -> list[Path]:
    """The folders whose files the browser may register by path: ``$CROSSBOARD_DATA_DIRS``
    (separated by the system's path separator), else the home's ``files`` folder."""
    listed = [p for p in os.environ.get(DATA_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    return [Path(p).expanduser().resolve() for p in listed] or [(Path(home) / "files").resolve()]


@contextmanager
def opened_server_file(text: str, roots: list[Path]) -> Iterator[tuple[Path, os.stat_result]]:
    """The file at ``text`` in one of ``roots``, opened once: yields (a path that reads that open file,
    whatever happens to ``text`` meanwhile; its stat). Every folder below the root and the file are
    opened without following a link, so a link swapped in between the check and the read cannot lead
    out of the shared folder. DataError when ``text`` is outside the roots, missing, a link or not a file."""
    path = Path(os.path.abspath(Path(text.strip()).expanduser()))
    shown = ", ".join(str(r) for r in roots)
    root = next((r for r in roots if path.is_relative_to(r)), None)
    if root is None or path == root:
        raise DataError(f"{text.strip()!r} is not in a folder this server shares ({shown}); copy the file there, "
                        f"or start the app with {DATA_DIRS_ENV} naming its folder")
    *folders, name = path.relative_to(root).parts
    opened = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        try:
            for folder in folders:
                opened.append(os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=opened[-1]))
            opened.append(os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=opened[-1]))
        except FileNotFoundError:
            raise DataError(f"no file at {str(path)!r}; check the path (files in {shown})") from None
        except OSError:          # ELOOP or ENOTDIR: a link (or a file where a folder should be) on the way
            raise DataError(f"{str(path)!r} is or goes through a link; name the file itself, in {shown}") from None
        found = os.fstat(opened[-1])
        if not stat.S_ISREG(found.st_mode):
            raise DataError(f"{str(path)!r} is not a file; name a CSV, TSV, Parquet or libFM file in {shown}")
        yield Path(f"/dev/fd/{opened[-1]}"), found
    finally:
        for fd in opened:
            os.close(fd)


def joined_parts(train: RawTable, filename: str, parts: dict, delimiter: str | None, names: list[str] | None,
                 max_bytes: int | None, digest) -> RawTable:
    """The training table with the ``parts`` files appended, a ``split`` column naming each row's part;
    every file must have the training file's columns. ``digest`` takes in every file's bytes."""
    if SPLIT_COLUMN in train.frame.columns:
        raise DataError(f"{filename} has a column named {SPLIT_COLUMN!r} already; give it a split role instead "
                        "of separate files, or rename it")
    frames = [train.frame.assign(**{SPLIT_COLUMN: "train"})]
    for part, (source, part_name) in parts.items():
        data = read_bytes(source)
        part_name = part_name or (Path(source).name if not isinstance(source, bytes) else f"{part} upload")
        table = read_table(data, part_name, delimiter=delimiter, names=names, max_bytes=max_bytes)
        if list(table.frame.columns) != list(train.frame.columns):
            extra = sorted(set(table.frame.columns) ^ set(train.frame.columns)) or ["(the same, in another order)"]
            raise DataError(f"{part_name} ({part} rows) does not have the columns of {filename}: it differs in "
                            f"{', '.join(map(str, extra[:5]))}; the files of one dataset need the same columns")
        digest.update(part.encode() + data)
        frames.append(table.frame.assign(**{SPLIT_COLUMN: part}))
    frame = pd.concat(frames, ignore_index=True)
    note = f"joined {filename} (train) with " + ", ".join(f"{part} rows" for part in parts) + f" by a {SPLIT_COLUMN!r} column"
    return replace(train, frame=frame, notes=train.notes + [note])


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The immutable copy. Mixed-type text columns are stored as strings."""
    frame = frame.copy()
    for name in frame.columns[frame.dtypes == object]:
        frame[name] = frame[name].astype("string")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def version_id(digest: str, schema: Schema, source_url: str | None = None) -> str:
    """A dataset version's id: the content ``digest`` with every choice that changes what a study
    sees (task, each column's role, the positive label, the history column) and, registered by
    reference, where workers read it, hashed. Versions never change once stored: the same file with
    other roles (or at another URL) is another version."""
    choices = {"task": schema.task, "roles": [[c.name, c.role] for c in schema.columns],
               "positive_label": schema.positive_label, "item_history": schema.item_history,
               **({"time_fields": True} if schema.time_fields else {}),
               **({"source_url": source_url} if source_url else {})}
    return hashlib.sha256((digest + json.dumps(choices, sort_keys=True)).encode()).hexdigest()


def save(store: Store, inspection: Inspection, schema: Schema | None = None, name: str | None = None,
         home: Path | None = None) -> DatasetRow:
    """Validate ``schema`` (default: the inferred one) and store the dataset version atomically;
    the same content with the same choices returns the version already stored (under its name).
    A table read in blocks keeps its Parquet copy as the ``home``'s local copy. One registered by
    reference (``inspect_reference``) stores its URL and digest, not its Parquet copy."""
    schema = schema or inspection.schema
    frame = inspection.raw.frame
    name = checked_name(name, "dataset") if name is not None else derived_name(Path(inspection.filename).stem,
                                                                                 "dataset")
    if schema != inspection.schema or inspection.problem is not None:     # else checked by ``inspect``
        validate(frame, schema, inspection.filename)
    schema = replace(schema, item_history=item_history_column(frame, schema))
    url = inspection.source_url
    version = version_id(inspection.digest, schema, url)
    existing = store.find_dataset(version)
    if existing is not None:
        return existing
    parquet = frame.path if isinstance(frame, ParquetColumns) else to_parquet_bytes(frame)
    row = DatasetRow(id=version, name=name, filename=inspection.filename,
                     file_format=inspection.raw.file_format, n_rows=len(frame), n_cols=frame.shape[1],
                     parquet_bytes=parquet.stat().st_size if isinstance(parquet, Path) else len(parquet),
                     schema_json=schema.to_json(), source_url=url, digest=inspection.digest if url else None)
    try:
        with space_for(f"storing dataset {name!r}", database_place(store.url), None if url else row.parquet_bytes):
            row = store.add_dataset(row, None if url else parquet)
    except DiskFull:
        if isinstance(parquet, Path):
            parquet.unlink(missing_ok=True)       # the spooled copy: ingest the file again once there is space
        raise
    if home is not None and isinstance(parquet, Path):
        local = dataset_path_in(home, row)
        local.parent.mkdir(parents=True, exist_ok=True)
        if local.exists():
            parquet.unlink(missing_ok=True)
        else:
            os.replace(parquet, local)
    return row


def get_dataset(store: Store, ref: str) -> DatasetRow:
    row = store.find_dataset(ref)
    if row is None:
        known = ", ".join(d.name for d in store.datasets()) or "none yet (use `crossboard ingest PATH`)"
        raise NotFoundError(f"no dataset called {ref!r}; the datasets are: {known}")
    return row


def dataset_path_in(home: Path, row: DatasetRow) -> Path:
    return Path(home) / "datasets" / f"{row.id}.parquet"


def dataset_file(store: Store, row: DatasetRow, home: Path) -> Path:
    """The stored table's local Parquet copy, fetched on first use from the database or, for a table
    registered by reference, from its URL (``fetched_by_reference``)."""
    path = dataset_path_in(home, row)
    if not path.exists() and row.source_url:
        fetched_by_reference(row, path)
    elif not path.exists():
        with removed_on_failure(partial_path(path), f"fetching dataset {row.name!r}", row.parquet_bytes) as partial:
            store.write_dataset_parquet(row.id, partial)
            partial.replace(path)
    return path


def load_frame(store: Store, row: DatasetRow, home: Path) -> pd.DataFrame:
    """The stored table in memory."""
    return pd.read_parquet(dataset_file(store, row, home))


def load_columns(store: Store, row: DatasetRow, home: Path) -> ParquetColumns:
    """The stored table read one column at a time (for tables larger than memory)."""
    return ParquetColumns(dataset_file(store, row, home))


def schema_of(row: DatasetRow) -> Schema:
    return Schema.from_json(row.schema_json)
