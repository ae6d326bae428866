"""A dataset made ready for training: split once (stored in the database) and encoded once
(cached on disk as safetensors), so every worker and every trial sees the same rows."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from automl.data.datasets import load_frame, schema_of
from automl.data.infer_schema import timestamps_of
from automl.data.schema import DEFAULT_CANDIDATES, Schema
from automl.data.validate import label_vector, split_parts
from automl.features.encode import EncodedData, EncodingOptions, encode
from automl.features.splits import given_split, make_split, split_counts, split_key
from automl.features.topk_split import encode_implicit, leave_one_out, positive_rows
from models.spec import spec_from_dict, spec_to_dict
from storage import Store
from storage.tables import DatasetRow, SplitRow

ENCODING_VERSION = 1


def task_schema(row: DatasetRow, task: str | None = None) -> Schema:
    """The dataset's schema for a study of ``task`` (default: the dataset's own task); the
    implicit task also runs on a ctr or rating dataset (see ``automl.features.topk_split``)."""
    schema = schema_of(row)
    return schema if task in (None, schema.task) else replace(schema, task=task)


def task_frame(store: Store, row: DatasetRow, home: Path, schema: Schema) -> pd.DataFrame:
    """The rows a study of ``schema.task`` uses: all of them, or the positives for implicit."""
    frame = load_frame(store, row, home)
    return positive_rows(frame, schema) if schema.task == "implicit" else frame


def make_assignment(frame: pd.DataFrame, schema: Schema, seed: int = 0) -> tuple[np.ndarray, str]:
    """(split assignment, method): leave-one-out per user for implicit, the table's own split
    when it has a split column, else ``make_split``."""
    if schema.task == "implicit":
        users = pd.factorize(frame[schema.names("user")[0]].astype("string"))[0]
        return leave_one_out(users, timestamps_of(frame, schema), seed)
    labels, times = label_vector(frame, schema), timestamps_of(frame, schema)
    if schema.names("split"):
        parts = split_parts(frame[schema.names("split")[0]]).to_numpy(dtype=object)
        return given_split(parts, labels, schema.task, times, seed=seed)
    return make_split(labels, schema.task, times, seed=seed)


def stored_split(store: Store, row: DatasetRow, home: Path, seed: int = 0, task: str | None = None) -> np.ndarray:
    """The split assignment (int8: 0 train, 1 val, 2 test) of the rows ``task_frame`` gives
    for ``task``, made on first use."""
    schema = task_schema(row, task)
    key = split_key(schema, seed=seed)
    existing = store.get_split(row.id, key)
    if existing is None:
        assignment, method = make_assignment(task_frame(store, row, home, schema), schema, seed)
        buffer = io.BytesIO()
        np.save(buffer, assignment, allow_pickle=False)
        existing = store.put_split(SplitRow(dataset_id=row.id, key=key, method=method,
                                            counts_json=json.dumps(split_counts(assignment)),
                                            data=buffer.getvalue()))
    return np.load(io.BytesIO(existing.data), allow_pickle=False)


def cache_path(row: DatasetRow, home: Path, options: EncodingOptions, task: str | None = None,
               candidates: int = DEFAULT_CANDIDATES) -> Path:
    schema_hash = hashlib.sha256(row.schema_json.encode()).hexdigest()[:12]
    tag = f"-implicit-c{candidates}" if task_schema(row, task).task == "implicit" else ""
    return Path(home) / "cache" / f"{row.id[:16]}-{schema_hash}-{options.key()}{tag}-v{ENCODING_VERSION}.safetensors"


def prepared_data(store: Store, row: DatasetRow, home: Path, options: EncodingOptions | None = None,
                  task: str | None = None, candidates: int = DEFAULT_CANDIDATES) -> EncodedData:
    """Encoded tensors (CPU) of the dataset for a study of ``task`` (default: the dataset's),
    from the disk cache when present; implicit data holds ``candidates`` sampled candidates per
    held-out row (0: rank against every item)."""
    options = options or EncodingOptions()
    path = cache_path(row, home, options, task, candidates)
    if path.exists():
        return read_cache(path)
    schema = task_schema(row, task)
    assignment = stored_split(store, row, home, task=schema.task)
    frame = task_frame(store, row, home, schema)
    data = (encode_implicit(frame, schema, assignment, options, candidates) if schema.task == "implicit"
            else encode(frame, schema, assignment, options))
    write_cache(data, path)
    return data


def write_cache(data: EncodedData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"{split}/{k}": v for split, batch in data.splits.items() for k, v in batch.items()}
    partial = path.with_suffix(f".{os.getpid()}.part")
    save_file(tensors, str(partial), metadata={"spec": json.dumps(spec_to_dict(data.spec)),
                                                "notes": json.dumps(data.notes)})
    partial.replace(path)


def read_cache(path: Path) -> EncodedData:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    splits: dict[str, dict] = {}
    for name, tensor in load_file(str(path)).items():
        split, key = name.split("/", 1)
        splits.setdefault(split, {})[key] = tensor
    return EncodedData(spec_from_dict(json.loads(meta["spec"])), splits, json.loads(meta["notes"]))
