"""Feature encoding: a frame + schema + split assignment -> tensors in the batch-dict layout
(see ``models.spec``) and the DataSpec that describes them. All statistics (vocabularies,
means, bucket edges, pair rankings) come from the training rows only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from automl.data.history_column import split_tokens
from automl.data.schema import CATEGORICAL_ROLES, Schema
from automl.data.validate import label_vector
from automl.features.cross_pairs import rank_pairs
from automl.features.history import behavior_history, pack_newest
from automl.features.splits import SPLIT_NAMES, TRAIN
from models.spec import DataSpec, FieldInfo, SequenceInfo


@dataclass(frozen=True)
class EncodingOptions:
    min_count: int = 1            # values seen fewer times in training share the OOV index 0
    max_vocab: int = 1_000_000    # per field; the rest share the OOV index
    n_buckets: int = 10           # quantile buckets per numeric column
    max_seq_len: int = 20         # newest tokens kept per sequence cell
    history_len: int = 20         # newest past events kept per behavior history (automl.features.history)
    history_positives_only: bool = True   # ctr: a derived history holds only positive events

    def key(self) -> str:
        return (f"m{self.min_count}-v{self.max_vocab}-b{self.n_buckets}-s{self.max_seq_len}"
                f"-h{self.history_len}{'p' if self.history_positives_only else 'a'}")


@dataclass
class EncodedData:
    spec: DataSpec
    splits: dict[str, dict[str, torch.Tensor]]     # "train" / "val" / "test" -> batch dict
    notes: list[str] = field(default_factory=list)

    @property
    def device(self) -> torch.device:
        return self.splits["train"]["label"].device

    def with_spec(self, spec: DataSpec) -> EncodedData:
        return EncodedData(spec, self.splits, self.notes)

    def to(self, device: torch.device) -> EncodedData:
        moved = {s: {k: v.to(device) for k, v in b.items()} for s, b in self.splits.items()}
        return EncodedData(self.spec, moved, self.notes)


def _as_text(series: pd.Series) -> pd.Series:
    """Values as strings, missing as NA (so 12 and "12" agree across files)."""
    return series.astype("string")


def vocabulary(train_values: pd.Series, options: EncodingOptions) -> pd.Index:
    """Training values seen at least ``min_count`` times, most frequent first (index 1..)."""
    counts = train_values.value_counts(dropna=True)
    counts = counts[counts >= options.min_count]
    return counts.index[: options.max_vocab]


def encode_categorical(series: pd.Series, is_train: np.ndarray, options: EncodingOptions) -> tuple[np.ndarray, int]:
    """-> (int64 [n] codes with 0 = out of vocabulary or missing, cardinality incl. 0). The
    vocabulary is the training values seen at least ``min_count`` times, most frequent first (ties:
    first seen first), at most ``max_vocab``; found by hashing the column's own values (one
    ``pd.factorize`` pass), not by converting them to text. Mixed-type columns are compared as text,
    so 12 and "12" agree."""
    values = _as_text(series) if series.dtype == object else series
    codes, uniques = pd.factorize(values, use_na_sentinel=True)        # -1: missing
    counts = np.bincount(codes[is_train & (codes >= 0)], minlength=len(uniques))
    kept = np.flatnonzero(counts >= max(options.min_count, 1))
    kept = kept[np.argsort(-counts[kept], kind="stable")][: options.max_vocab]
    lookup = np.zeros(len(uniques) + 1, dtype=np.int64)                # the last slot: code -1 -> 0
    lookup[kept] = np.arange(1, len(kept) + 1)
    return lookup[codes], len(kept) + 1


def encode_numeric(series: pd.Series, is_train: np.ndarray, n_buckets: int):
    """-> (standardized float32 [n] with missing = 0, missing flags float32 [n] or None,
    bucket int64 [n] with 0 = missing, bucket cardinality)."""
    x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    missing = np.isnan(x)
    train = x[is_train & ~missing]
    mean, std = (train.mean(), train.std()) if len(train) else (0.0, 1.0)
    std = std if std > 0 else 1.0
    standardized = np.where(missing, 0.0, (x - mean) / std).astype(np.float32)
    edges = np.unique(np.quantile(train, np.linspace(0, 1, n_buckets + 1)[1:-1])) if len(train) else np.array([])
    buckets = np.where(missing, 0, np.searchsorted(edges, np.nan_to_num(x), side="right") + 1).astype(np.int64)
    flags = missing.astype(np.float32) if missing.any() else None
    return standardized, flags, buckets, len(edges) + 2


def encode_sequence(series: pd.Series, delimiter: str, is_train: np.ndarray,
                    options: EncodingOptions) -> tuple[np.ndarray, int]:
    """Delimited lists -> (int64 [n, L] newest-last tokens left-aligned, 0 = padding; cardinality)."""
    tokens = split_tokens(series, delimiter)
    vocab = vocabulary(tokens[is_train[tokens.index.to_numpy()]], options)
    codes = pd.Categorical(tokens, categories=vocab).codes.astype(np.int64) + 1
    out = pack_newest(tokens.index.to_numpy(), codes, len(series), options.max_seq_len)
    return out, len(vocab) + 1


def field_sides(frame: pd.DataFrame, schema: Schema, names: list[str]) -> dict[str, str]:
    """"user" / "item" for columns constant per user / item id, else "context"."""
    sides = {}
    user, item = schema.names("user"), schema.names("item")
    for name in names:
        role = schema.column(name).role
        if role in ("user", "item"):
            sides[name] = role
            continue
        sides[name] = "context"
        for key, side in ((user, "user"), (item, "item")):
            if key and (frame.groupby(key[0], sort=False)[name].nunique(dropna=False) <= 1).mean() >= 0.99:
                sides[name] = side
                break
    return sides


def encode(frame: pd.DataFrame, schema: Schema, assignment: np.ndarray,
           options: EncodingOptions | None = None) -> EncodedData:
    """Encode every column by its role; see the module docstring."""
    options = options or EncodingOptions()
    frame = frame.reset_index(drop=True)
    is_train = assignment == TRAIN
    labels = label_vector(frame, schema)
    columns: dict[str, list[np.ndarray]] = {"cat": [], "num": [], "flags": [], "num_bkt": []}
    fields, numeric, flag_names, buckets, sequences, notes = [], [], [], [], [], []

    cat_names = [c.name for c in schema.columns if c.role in CATEGORICAL_ROLES]
    sides = field_sides(frame, schema, cat_names)
    for name in cat_names:
        codes, card = encode_categorical(frame[name], is_train, options)
        columns["cat"].append(codes)
        fields.append(FieldInfo(name, card, sides[name]))
        if card - 1 >= options.max_vocab:
            notes.append(f"column {name!r}: only the {options.max_vocab:,} most frequent values get an embedding")
    for name in schema.names("numeric"):
        values, flags, bucket, card = encode_numeric(frame[name], is_train, options.n_buckets)
        columns["num"].append(values)
        numeric.append(name)
        if flags is not None:
            columns["flags"].append(flags)
            flag_names.append(f"{name} is missing")
        columns["num_bkt"].append(bucket)
        buckets.append(FieldInfo(f"{name} (bucket)", card))
    seq_tensors = {}
    for j, column in enumerate(c for c in schema.columns if c.role == "sequence"):
        tokens, card = encode_sequence(frame[column.name], column.delimiter or "|", is_train, options)
        seq_tensors[f"seq{j}"] = tokens
        sequences.append(SequenceInfo(column.name, card, options.max_seq_len))

    n = len(frame)
    arrays = {
        "cat": np.stack(columns["cat"], 1) if columns["cat"] else np.zeros((n, 0), np.int64),
        "num": np.stack(columns["num"] + columns["flags"], 1) if numeric else np.zeros((n, 0), np.float32),
        "num_bkt": np.stack(columns["num_bkt"], 1) if buckets else np.zeros((n, 0), np.int64),
        "label": labels.astype(np.float32),
        **seq_tensors,
    }
    history_arrays, history = behavior_history(frame, schema, arrays["cat"], fields, labels,
                                               options.history_len, options.history_positives_only)
    arrays.update(history_arrays)
    names = [f.name for f in fields]
    spec = DataSpec(
        task=schema.task,
        fields=tuple(fields),
        numeric=tuple(numeric + flag_names),
        buckets=tuple(buckets),
        sequences=tuple(sequences),
        user_field=names.index(schema.names("user")[0]) if schema.names("user") else None,
        item_field=names.index(schema.names("item")[0]) if schema.names("item") else None,
        has_timestamp=bool(schema.names("timestamp")),
        label_mean=float(labels[is_train].mean()),
        n_train=int(is_train.sum()),
        ranked_pairs=tuple(rank_pairs(arrays["cat"][is_train], labels[is_train], schema.task)),
        history=history,
    )
    splits = {
        split: {k: torch.from_numpy(np.ascontiguousarray(v[assignment == i])) for k, v in arrays.items()}
        for i, split in enumerate(SPLIT_NAMES)
    }
    return EncodedData(spec, splits, notes)

