"""A dataset made ready for training: split once (stored in the database) and encoded once
(cached on disk as safetensors), so every worker and every trial sees the same rows."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from automl.datasets import load_frame, schema_of
from automl.features import EncodedData, EncodingOptions, encode, timestamps_of
from automl.splits import make_split, split_counts, split_key
from automl.validation import label_vector
from models.spec import spec_from_dict, spec_to_dict
from storage import Store
from storage.tables import DatasetRow, SplitRow

ENCODING_VERSION = 1


def stored_split(store: Store, row: DatasetRow, home: Path, seed: int = 0) -> np.ndarray:
    """The dataset's split assignment (int8: 0 train, 1 val, 2 test), made on first use."""
    schema = schema_of(row)
    key = split_key(schema, seed=seed)
    existing = store.get_split(row.id, key)
    if existing is None:
        frame = load_frame(store, row, home)
        assignment, method = make_split(label_vector(frame, schema), schema.task, timestamps_of(frame, schema),
                                        seed=seed)
        buffer = io.BytesIO()
        np.save(buffer, assignment, allow_pickle=False)
        existing = store.put_split(SplitRow(dataset_id=row.id, key=key, method=method,
                                            counts_json=json.dumps(split_counts(assignment)),
                                            data=buffer.getvalue()))
    return np.load(io.BytesIO(existing.data), allow_pickle=False)


def cache_path(row: DatasetRow, home: Path, options: EncodingOptions) -> Path:
    schema_hash = hashlib.sha256(row.schema_json.encode()).hexdigest()[:12]
    return Path(home) / "cache" / f"{row.id[:16]}-{schema_hash}-{options.key()}-v{ENCODING_VERSION}.safetensors"


def prepared_data(store: Store, row: DatasetRow, home: Path, options: EncodingOptions | None = None) -> EncodedData:
    """Encoded tensors (CPU) for the dataset, from the disk cache when present."""
    options = options or EncodingOptions()
    path = cache_path(row, home, options)
    if path.exists():
        return read_cache(path)
    assignment = stored_split(store, row, home)
    data = encode(load_frame(store, row, home), schema_of(row), assignment, options)
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
