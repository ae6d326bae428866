"""A dataset made ready for training: split once (stored in the database) and encoded once
(cached on disk as memory-mappable ``.npy`` files), so every worker and every trial sees the same rows."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from automl.data.columns import ParquetColumns
from automl.data.datasets import load_columns, load_frame, schema_of
from automl.data.files import partial_path, removed_on_failure
from automl.data.schema import DEFAULT_CANDIDATES, Schema
from automl.data.timestamps import timestamps_of
from automl.data.validate import label_vector, split_parts
from automl.features.encode import EncodedData, EncodingOptions, encode, with_ranked_pairs
from automl.features.fitted import Encoder
from automl.features.splits import DEFAULT_FRACTIONS, given_split, make_split, split_counts, split_key
from automl.features.topk_split import encode_implicit, leave_one_out, positive_rows
from models.spec import spec_from_dict, spec_to_dict
from storage import Store
from storage.tables import DatasetRow, SplitRow

ENCODING_VERSION = 6
META, PAIRS, EVENTS = "meta.json", "ranked_pairs.json", "history_events.npz"


def task_schema(row: DatasetRow, task: str | None = None) -> Schema:
    """The dataset's schema for a study of ``task`` (default: the dataset's own task); the
    implicit task also runs on a ctr or rating dataset (see ``automl.features.topk_split``)."""
    schema = schema_of(row)
    return schema if task in (None, schema.task) else replace(schema, task=task)


def task_frame(store: Store, row: DatasetRow, home: Path, schema: Schema) -> pd.DataFrame | ParquetColumns:
    """The rows a study of ``schema.task`` uses: all of them, read one column at a time, or the
    positives for implicit (in memory)."""
    if schema.task == "implicit":
        return positive_rows(load_frame(store, row, home), schema)
    return load_columns(store, row, home)


def make_assignment(frame: pd.DataFrame, schema: Schema, seed: int = 0, fractions=DEFAULT_FRACTIONS,
                    seconds: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """(split assignment, method): leave-one-out per user for implicit, the table's own split
    when it has a split column, else ``make_split`` with ``fractions``. ``seconds``: the rows'
    times (``timestamps_of``) when the caller has them, else parsed here."""
    times = timestamps_of(frame, schema) if seconds is None else seconds
    if schema.task == "implicit":
        users = pd.factorize(frame[schema.names("user")[0]].astype("string"))[0]
        return leave_one_out(users, times, seed)
    labels = label_vector(frame, schema)
    if schema.names("split"):
        parts = split_parts(frame[schema.names("split")[0]]).to_numpy(dtype=object)
        return given_split(parts, labels, schema.task, times, seed=seed)
    return make_split(labels, schema.task, times, fractions, seed=seed)


def stored_split(store: Store, row: DatasetRow, home: Path, seed: int = 0, task: str | None = None,
                 fractions=DEFAULT_FRACTIONS, rows: tuple | None = None) -> np.ndarray:
    """The split assignment (int8: 0 train, 1 val, 2 test) of the rows ``task_frame`` gives
    for ``task``, made on first use (from ``rows``: (that frame, its ``timestamps_of``), when the
    caller holds them, else read here)."""
    schema = task_schema(row, task)
    key = split_key(schema, fractions, seed=seed)
    existing = store.get_split(row.id, key)
    if existing is None:
        frame, seconds = rows or (task_frame(store, row, home, schema), None)
        assignment, method = make_assignment(frame, schema, seed, fractions, seconds)
        buffer = io.BytesIO()
        np.save(buffer, assignment, allow_pickle=False)
        existing = store.put_split(SplitRow(dataset_id=row.id, key=key, method=method,
                                            counts_json=json.dumps(split_counts(assignment)),
                                            data=buffer.getvalue()))
    return np.load(io.BytesIO(existing.data), allow_pickle=False)


def cache_path(row: DatasetRow, home: Path, options: EncodingOptions, task: str | None = None,
               candidates: int = DEFAULT_CANDIDATES, fractions=DEFAULT_FRACTIONS) -> Path:
    """The folder of the encoded tensors (one ``.npy`` file per split and key, ``meta.json``)."""
    schema_hash = hashlib.sha256(row.schema_json.encode()).hexdigest()[:12]
    tag = f"-implicit-c{candidates}" if task_schema(row, task).task == "implicit" else ""
    if tuple(fractions) != DEFAULT_FRACTIONS:
        tag += "-f" + "-".join(f"{f:.4g}" for f in fractions)
    return Path(home) / "cache" / f"{row.id[:16]}-{schema_hash}-{options.key()}{tag}-v{ENCODING_VERSION}"


def prepared_data(store: Store, row: DatasetRow, home: Path, options: EncodingOptions | None = None,
                  task: str | None = None, candidates: int = DEFAULT_CANDIDATES,
                  ranked_pairs: bool = False, fractions=DEFAULT_FRACTIONS) -> EncodedData:
    """Encoded tensors (CPU, memory-mapped from the disk cache) of the dataset for a study of
    ``task`` (default: the dataset's), encoded on first use; implicit data holds ``candidates``
    sampled candidates per held-out row (0: rank against every item). ``ranked_pairs``: with Wide &
    Deep's pair ranking in the spec (computed once, kept beside the tensors). ``fractions``: the
    shares of train, validation and test rows (``splits.online_fractions`` for an online study)."""
    options = options or EncodingOptions()
    path = cache_path(row, home, options, task, candidates, fractions)
    if not (path / META).exists():
        encode_into(store, row, home, options, task, candidates, path, fractions)
    data = read_cache(path)
    if not ranked_pairs:
        return data
    pairs_file = path / PAIRS
    if pairs_file.exists():
        return with_ranked_pairs(data, json.loads(pairs_file.read_text()))
    data = with_ranked_pairs(data)
    write_atomically(pairs_file, json.dumps(data.spec.ranked_pairs))
    return data


def encode_into(store: Store, row: DatasetRow, home: Path, options: EncodingOptions, task: str | None,
                candidates: int, path: Path, fractions=DEFAULT_FRACTIONS) -> None:
    """Encode the dataset into the cache folder ``path``: ctr and rating tables column by column
    from the stored Parquet copy straight into memory-mapped files (memory stays bounded whatever
    the table's size); implicit data (its positives, with sampled candidates) in memory."""
    schema = task_schema(row, task)
    frame = task_frame(store, row, home, schema)
    seconds = timestamps_of(frame, schema)          # parsed once, for the split and the encoding
    assignment = stored_split(store, row, home, task=schema.task, fractions=fractions, rows=(frame, seconds))
    with removed_on_failure(partial_path(path), f"encoding dataset {row.name!r}") as partial:
        partial.mkdir()
        if schema.task == "implicit":
            data = encode_implicit(frame, schema, assignment, options, candidates, seconds=seconds)
        else:
            data = encode(frame, schema, assignment, options, allocate=memory_mapped(partial), seconds=seconds)
        write_cache(data, partial)
    try:
        partial.replace(path)
    except OSError:             # another worker finished first: its folder holds the same tensors
        shutil.rmtree(partial, ignore_errors=True)


def memory_mapped(folder: Path):
    """An ``encode`` allocator: each output a new ``.npy`` file in ``folder``, memory-mapped, its
    blocks reserved first: a full disk then raises ENOSPC here, where writing into a sparse mapped
    file would kill the process (SIGBUS) without a word."""
    def allocate(split: str, key: str, shape: tuple, dtype) -> np.ndarray:
        if 0 in shape:
            return np.empty(shape, dtype)
        file = folder / f"{split}.{key}.npy"
        array = np.lib.format.open_memmap(file, mode="w+", dtype=dtype, shape=shape)
        with open(file, "r+b") as f:
            os.posix_fallocate(f.fileno(), 0, file.stat().st_size)
        return array
    return allocate


def write_cache(data: EncodedData, folder: Path) -> None:
    """Every tensor not yet in ``folder`` as ``{split}.{key}.npy``, the history events, then ``meta.json``
    (spec, notes, keys, the fitted encoder)."""
    keys = {}
    for split, batch in data.splits.items():
        keys[split] = sorted(batch)
        for key, tensor in batch.items():
            file = folder / f"{split}.{key}.npy"
            array = tensor.numpy()
            if isinstance(array, np.memmap):
                array.flush()
            elif not file.exists():
                np.save(file, array, allow_pickle=False)
    if data.events is not None:
        np.savez(folder / EVENTS, **data.events)
    meta = {"spec": spec_to_dict(data.spec), "notes": data.notes, "keys": keys,
            "encoder": data.encoder.to_json() if data.encoder else None}
    (folder / META).write_text(json.dumps(meta))


def read_cache(folder: Path) -> EncodedData:
    """The cached tensors, memory-mapped copy-on-write: pages are read from disk when touched, and
    a change made in memory never reaches the file."""
    meta = json.loads((folder / META).read_text())
    splits = {split: {key: torch.from_numpy(np.load(folder / f"{split}.{key}.npy", mmap_mode="c",
                                                    allow_pickle=False))
                      for key in keys}
              for split, keys in meta["keys"].items()}
    encoder = Encoder.from_json(meta["encoder"]) if meta.get("encoder") else None
    events = dict(np.load(folder / EVENTS, allow_pickle=False)) if (folder / EVENTS).exists() else None
    return EncodedData(spec_from_dict(meta["spec"]), splits, meta["notes"], encoder, events)


def write_atomically(path: Path, text: str) -> None:
    with removed_on_failure(partial_path(path), f"writing {path.name}") as partial:
        partial.write_text(text)
        partial.replace(path)
