"""Feature encoding: a frame + schema + split assignment -> tensors in the batch-dict layout
(see ``models.spec``) and the DataSpec that describes them. All statistics (vocabularies,
means, bucket edges, pair rankings) come from the training rows only."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from automl.data.history_column import item_history_column, split_tokens
from automl.data.schema import CATEGORICAL_ROLES, Schema
from automl.data.timestamps import timestamps_of
from automl.data.validate import label_vector
from automl.features.cross_pairs import rank_pairs
from automl.features.dependencies import field_dependencies, joint_counts
from automl.features.fitted import (
    CategoryCode,
    Encoder,
    HistoryCode,
    NumericCode,
    SequenceCode,
    keep_newest_events,
    numeric_values,
    time_parts,
)
from automl.features.history import behavior_history
from automl.features.splits import SPLIT_NAMES, TRAIN
from models.spec import MIN_COUNTS, DataSpec, FieldInfo, HistoryInfo, SequenceInfo


@dataclass(frozen=True)
class EncodingOptions:
    min_count: int = 1            # values seen fewer times in training share the OOV index 0
    max_vocab: int = 1_000_000    # per field; the rest share the OOV index
    n_buckets: int = 10           # quantile buckets per numeric column
    max_seq_len: int = 20         # newest tokens kept per sequence cell
    history_len: int = 20         # newest past events kept per behavior history (automl.features.history)
    history_positives_only: bool = True   # ctr: a derived history holds only positive events
    # vocabularies from every row, not the training rows only: an online study's stream brings new
    # ids, which get their own embedding row (trained only from labels already revealed)
    open_vocabulary: bool = False

    def key(self) -> str:
        return (f"m{self.min_count}-v{self.max_vocab}-b{self.n_buckets}-s{self.max_seq_len}"
                f"-h{self.history_len}{'p' if self.history_positives_only else 'a'}"
                f"{'-open' if self.open_vocabulary else ''}")


@dataclass
class EncodedData:
    spec: DataSpec
    splits: dict[str, dict[str, torch.Tensor]]     # "train" / "val" / "test" -> batch dict
    notes: list[str] = field(default_factory=list)
    encoder: Encoder | None = None                 # how new rows are encoded like these
    events: dict[str, np.ndarray] | None = None    # the log's events new rows' histories come from
    streamed: tuple[str, ...] = ()                 # splits left in host memory: their batches stream to ``device``
    target: torch.device | None = None             # the training device while ``streamed`` splits stream to it

    @property
    def device(self) -> torch.device:
        """The training device: ``target``, else the training split's own device."""
        return self.target if self.target is not None else self.splits["train"]["label"].device

    def streams_to(self, split: str) -> torch.device | None:
        """Where ``split``'s batches stream to from host memory (the training device), or None when
        its rows are on the training device already."""
        return self.device if split in self.streamed else None

    def nbytes(self, splits: tuple[str, ...] = SPLIT_NAMES) -> int:
        """Bytes of the tensors of ``splits``."""
        return sum(v.numel() * v.element_size() for s in splits for v in self.splits[s].values())

    def with_spec(self, spec: DataSpec) -> EncodedData:
        return replace(self, spec=spec)

    def to(self, device: torch.device, budget: float = math.inf) -> EncodedData:
        """The splits on ``device`` as far as ``budget`` (bytes) allows: all of them when they fit;
        else the training split stays in host memory, and validation and test too unless they fit
        without it. What stays there streams to ``device`` batch by batch
        (``automl.training.device.batches``)."""
        streamed = (() if self.nbytes() <= budget else ("train",) if self.nbytes(("val", "test")) <= budget
                    else SPLIT_NAMES)
        splits = {s: {k: v.cpu() if s in streamed else v.to(device) for k, v in b.items()}
                  for s, b in self.splits.items()}
        return replace(self, splits=splits, streamed=streamed, target=device if streamed else None)


def _as_text(series: pd.Series) -> pd.Series:
    """Values as strings, missing as NA (so 12 and "12" agree across files)."""
    return series.astype("string")


def vocabulary(train_values: pd.Series, options: EncodingOptions) -> pd.Index:
    """Training values seen at least ``min_count`` times, most frequent first (index 1..)."""
    counts = train_values.value_counts(dropna=True)
    counts = counts[counts >= options.min_count]
    return counts.index[: options.max_vocab]


def encode_categorical(series: pd.Series, is_train: np.ndarray, options: EncodingOptions,
                       name: str = "") -> tuple[np.ndarray, CategoryCode, tuple[int, ...]]:
    """-> (int64 [n] codes with 0 = out of vocabulary or missing, the fitted CategoryCode, how many
    kept values were seen at least ``MIN_COUNTS[i]`` times: ``FieldInfo.frequent``). The vocabulary is
    the training values seen at least ``min_count`` times, most frequent first (ties: first seen
    first), at most ``max_vocab``; found by hashing the column's own values (one ``pd.factorize``
    pass), not by converting them to text. Mixed-type columns are compared as text, so 12 and "12" agree."""
    values = _as_text(series) if series.dtype == object else series
    codes, uniques = pd.factorize(values, use_na_sentinel=True)        # -1: missing
    counts = np.bincount(codes[is_train & (codes >= 0)], minlength=len(uniques))
    kept = np.flatnonzero(counts >= max(options.min_count, 1))
    kept = kept[np.argsort(-counts[kept], kind="stable")][: options.max_vocab]
    lookup = np.zeros(len(uniques) + 1, dtype=np.int64)                # the last slot: code -1 -> 0
    lookup[kept] = np.arange(1, len(kept) + 1)
    frequent = tuple(int((counts[kept] >= m).sum()) for m in MIN_COUNTS)
    return lookup[codes], CategoryCode(name, np.asarray(uniques)[kept].tolist()), frequent


def encode_numeric(series: pd.Series, is_train: np.ndarray, n_buckets: int, name: str = ""):
    """-> (the fitted NumericCode, standardized float32 [n] with missing = 0, missing flags float32
    [n] (used when the code is ``flagged``), bucket int64 [n] with 0 = missing)."""
    x = numeric_values(series)
    code = NumericCode.fit(name, x, is_train, n_buckets)
    return code, *code.apply(x)


def encode_sequence(series: pd.Series, delimiter: str, is_train: np.ndarray,
                    options: EncodingOptions, name: str = "") -> tuple[np.ndarray, SequenceCode]:
    """Delimited lists -> (int64 [n, L] newest-last tokens left-aligned, 0 = padding; the fitted code)."""
    tokens = split_tokens(series, delimiter)
    vocab = vocabulary(tokens[is_train[tokens.index.to_numpy()]], options)
    code = SequenceCode(name, delimiter, vocab.tolist(), options.max_seq_len)
    return code.apply(series), code


def constant_per_key(key: np.ndarray, codes: np.ndarray) -> bool:
    """True when at least 99% of the keys (int64 [n], -1 = missing: left out) see one value of
    ``codes`` (int64 [n], >= 0) in all their rows."""
    present = key >= 0
    if not present.any():
        return False
    keys, _, _ = joint_counts(key[present], codes[present])
    per_key = np.bincount(keys)
    return float((per_key[per_key > 0] <= 1).mean()) >= 0.99


def time_fields(schema: Schema, seconds: np.ndarray | None) -> dict[str, pd.Series]:
    """With ``schema.time_fields`` and the timestamp column's ``seconds`` [n]: "<timestamp> hour" (0..23)
    and "<timestamp> weekday" (0 = Monday), UTC, as int64 [n] series to encode as categorical fields;
    else nothing."""
    if not schema.time_fields or seconds is None:
        return {}
    return time_parts(seconds, schema.names("timestamp")[0])


def side_keys(frame, schema: Schema) -> list[tuple[np.ndarray, str]]:
    """(the user ids, "user") and (the item ids, "item") as int64 [n] codes (-1 = missing), where present."""
    return [(pd.factorize(frame[key[0]])[0], side)
            for key, side in ((schema.names("user"), "user"), (schema.names("item"), "item")) if key]


def field_side(role: str, codes: np.ndarray, keys: list[tuple[np.ndarray, str]]) -> str:
    """"user" / "item" for the id columns and for columns whose ``codes`` [n] are constant per
    user / item id, else "context"."""
    if role in ("user", "item"):
        return role
    return next((side for key, side in keys if constant_per_key(key, codes)), "context")


Allocate = Callable[[str, str, tuple, type], np.ndarray]   # (split, key, shape, dtype) -> an array to fill


def in_memory(split: str, key: str, shape: tuple, dtype) -> np.ndarray:
    return np.empty(shape, dtype)


def encode(frame, schema: Schema, assignment: np.ndarray, options: EncodingOptions | None = None,
           allocate: Allocate = in_memory, seconds: np.ndarray | None = None) -> EncodedData:
    """Encode every column by its role, one column at a time; see the module docstring.

    ``frame``: a pandas DataFrame or anything read by column (``automl.data.columns.ParquetColumns``);
    ``allocate`` gives each split's output arrays (e.g. memory-mapped files), filled column by
    column, so memory holds one input column at a time beside them. ``seconds``: the timestamp
    column as ``timestamps_of`` gives it, when the caller has parsed it already; else it is parsed
    here, once, if the time fields or a derived history need it."""
    options = options or EncodingOptions()
    if isinstance(frame, pd.DataFrame):
        frame = frame.reset_index(drop=True)
    if seconds is None and (schema.time_fields or history_possible(schema)):
        seconds = timestamps_of(frame, schema)
    n = len(frame)
    rows = [np.flatnonzero(assignment == i) for i in range(len(SPLIT_NAMES))]
    is_train = assignment == TRAIN
    counted = np.ones(n, bool) if options.open_vocabulary else is_train     # the rows vocabularies come from
    labels = label_vector(frame, schema)
    out: dict[str, dict[str, np.ndarray]] = {split: {} for split in SPLIT_NAMES}

    def output(key: str, width: int | None, dtype) -> None:
        for split, idx in zip(SPLIT_NAMES, rows, strict=True):
            out[split][key] = allocate(split, key, (len(idx),) if width is None else (len(idx), width), dtype)

    def put(key: str, column: int | None, values: np.ndarray) -> None:
        for split, idx in zip(SPLIT_NAMES, rows, strict=True):
            if column is None:
                out[split][key][:] = values[idx]
            else:
                out[split][key][:, column] = values[idx]

    output("label", None, np.float32)
    put("label", None, labels.astype(np.float32))
    cat_names = [c.name for c in schema.columns if c.role in CATEGORICAL_ROLES]
    derived = time_fields(schema, seconds)
    output("cat", len(cat_names) + len(derived), np.int64)
    keys, fields, notes = side_keys(frame, schema), [], []
    encoder = Encoder(timestamp=schema.names("timestamp")[0] if derived else None,
                      time_format=schema.column(schema.names("timestamp")[0]).time_format if derived else None)
    for j, name in enumerate(cat_names + list(derived)):
        role = schema.column(name).role if name in cat_names else "categorical"
        codes, code, frequent = encode_categorical(derived[name] if name in derived else frame[name], counted,
                                                   options, name)
        put("cat", j, codes)
        encoder.fields.append(code)
        card = len(code.values) + 1
        fields.append(FieldInfo(name, card, field_side(role, codes, keys), frequent))
        if card - 1 >= options.max_vocab:
            notes.append(f"column {name!r}: only the {options.max_vocab:,} most frequent values get an embedding")
    del keys

    numeric = schema.names("numeric")
    flagged = [name for name in numeric if np.isnan(numeric_values(frame[name])).any()]
    output("num", len(numeric) + len(flagged), np.float32)
    output("num_bkt", len(numeric), np.int64)
    buckets = []
    for j, name in enumerate(numeric):
        code, values, flags, bucket = encode_numeric(frame[name], is_train, options.n_buckets, name)
        encoder.numeric.append(code)
        put("num", j, values)
        if code.flagged:
            put("num", len(numeric) + flagged.index(name), flags)
        put("num_bkt", j, bucket)
        buckets.append(FieldInfo(f"{name} (bucket)", code.cardinality))
    sequences = []
    for j, column in enumerate(c for c in schema.columns if c.role == "sequence"):
        tokens, code = encode_sequence(frame[column.name], column.delimiter or "|", counted, options, column.name)
        encoder.sequences.append(code)
        output(f"seq{j}", options.max_seq_len, np.int64)
        put(f"seq{j}", None, tokens)
        sequences.append(SequenceInfo(column.name, len(code.values) + 1, options.max_seq_len))

    history, events = None, None
    if history_possible(schema):
        history_arrays, history = behavior_history(frame, schema, seconds, lambda j: column_of(out, rows, n, j),
                                                   fields, labels, options.history_len,
                                                   options.history_positives_only)
        for key, values in history_arrays.items():
            output(key, None if values.ndim == 1 else values.shape[1], values.dtype)
            put(key, None, values)
    if history is not None:
        encoder.history, events = history_code(frame, schema, seconds, history, labels, options,
                                               lambda j: column_of(out, rows, n, j))
    names = [f.name for f in fields]
    spec = DataSpec(
        task=schema.task,
        fields=tuple(fields),
        numeric=tuple(numeric + [f"{name} is missing" for name in flagged]),
        buckets=tuple(buckets),
        sequences=tuple(sequences),
        user_field=names.index(schema.names("user")[0]) if schema.names("user") else None,
        item_field=names.index(schema.names("item")[0]) if schema.names("item") else None,
        has_timestamp=bool(schema.names("timestamp")),
        label_mean=float(labels[is_train].mean()),
        n_train=int(is_train.sum()),
        history=history,
        dependencies=tuple((d.source, d.determined, d.share) for d in field_dependencies(out["train"]["cat"])),
    )
    splits = {split: {k: torch.from_numpy(v) for k, v in arrays.items()} for split, arrays in out.items()}
    return EncodedData(spec, splits, notes, encoder, events)


def history_code(frame, schema: Schema, seconds: np.ndarray | None, history: HistoryInfo, labels: np.ndarray,
                 options: EncodingOptions, field_codes: Callable[[int], np.ndarray]
                 ) -> tuple[HistoryCode, dict[str, np.ndarray] | None]:
    """How new rows get the history the table's rows got: the given item-history column, or the
    log's eligible events (each known user's newest ``history_len``) to derive it from."""
    column = item_history_column(frame, schema)
    fields = list(history.field_index)
    if column is not None:
        return HistoryCode(fields, history.max_len, column, schema.column(column).delimiter or "|"), None
    user, stamp = schema.names("user")[0], schema.names("timestamp")[0]
    names = [c.name for c in schema.columns if c.role in CATEGORICAL_ROLES]
    eligible = labels == 1 if schema.task == "ctr" and options.history_positives_only else np.ones(len(labels), bool)
    events = keep_newest_events(field_codes(names.index(user)), np.stack([field_codes(j) for j in fields], 1),
                                seconds, eligible, history.max_len)
    return HistoryCode(fields, history.max_len, user_field=names.index(user), timestamp=stamp,
                       time_format=schema.column(stamp).time_format), events


def column_of(out: dict, rows: list[np.ndarray], n: int, j: int) -> np.ndarray:
    """Categorical field ``j``'s codes [n] in the table's row order, gathered from the split outputs."""
    column = np.empty(n, np.int64)
    for split, idx in zip(SPLIT_NAMES, rows, strict=True):
        column[idx] = out[split]["cat"][:, j]
    return column


def history_possible(schema: Schema) -> bool:
    """Whether ``behavior_history`` can give the table a history: an item column and either a
    sequence column (maybe past item ids) or a user and a timestamp to derive one from."""
    return bool(schema.names("item")) and (bool(schema.names("sequence"))
                                           or bool(schema.names("user") and schema.names("timestamp")))


def with_ranked_pairs(data: EncodedData, pairs: list[tuple[int, int]] | None = None) -> EncodedData:
    """``data`` with its spec's Wide & Deep pair ranking (``cross_pairs.rank_pairs`` on the
    training rows' fields and numeric buckets, or the ``pairs`` already ranked); computed only for studies
    with Wide & Deep."""
    if pairs is None:
        train = data.splits["train"]
        buckets = train["num_bkt"].numpy() if "num_bkt" in train and train["num_bkt"].shape[1] else None
        pairs = rank_pairs(train["cat"].numpy(), train["label"].numpy(), data.spec.task, buckets=buckets)
    return data.with_spec(replace(data.spec, ranked_pairs=tuple(tuple(p) for p in pairs)))
