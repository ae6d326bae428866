"""What a model is told about the data: the DataSpec, and the batch it will receive.

A batch is a dict of tensors, all on the training device, all with the same first dimension B:

- ``cat``      [B, F] int64   one column per categorical field (user and item ids included);
                              0 is the out-of-vocabulary / missing index, 1..cardinality-1 are values
- ``num``      [B, D] float32 standardized numeric columns, then their missing-value flags (0/1)
- ``num_bkt``  [B, N] int64   the quantile bucket of each numeric column (0 = missing)
- ``seq{j}``   [B, L] int64   sequence column j, left-aligned tokens, 0 = padding
- ``label``    [B]    float32 0/1 for ``ctr`` and ``implicit`` (1 a positive, 0 a sampled negative),
                              the rating for ``rating``
- ``hist{a}``  [B, L] int64   behavior history (when ``DataSpec.history`` is set): attribute a of
                              each past item (a = 0 the item id, then item-side fields), oldest
                              first, left-aligned, 0 = padding; ids share the vocabulary (and so
                              the embedding) of the candidate's field ``history.field_index[a]``
- ``hist_len`` [B]    int64   true history lengths (0..L)
- ``hist_age`` [B, L] int64   age bucket of each past event relative to the row (1.., 0 = padding)

Widths may be 0 (``num`` is [B, 0] for a table without numeric columns). A model reads only the
keys its card requires; every forward returns logits (``ctr``, ``implicit``) or ratings (``rating``) of
shape [B].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MAX_CROSSES = 10                # the most field pairs a model crosses from one of the DataSpec's pair lists
BUCKET_SUFFIX = " (bucket)"     # the bucket field of numeric column c is named c + BUCKET_SUFFIX
MISSING_SUFFIX = " is missing"  # its missing-value flag (in ``numeric``) c + MISSING_SUFFIX
MIN_COUNTS = (1, 2, 5, 10)      # the training counts below which a value may share the OOV row (FieldInfo.frequent)


def column_name(encoded_name: str) -> str:
    """The schema column an input comes from: "price (bucket)" / "price is missing" -> "price"."""
    for suffix in (BUCKET_SUFFIX, MISSING_SUFFIX):
        if encoded_name.endswith(suffix):
            return encoded_name[: -len(suffix)]
    return encoded_name


@dataclass(frozen=True)
class FieldInfo:
    """A categorical input: ``cardinality`` counts index 0 (out of vocabulary); ``frequent[i]``: how many
    of its values were seen at least ``MIN_COUNTS[i]`` times in training (codes 1.. are most frequent
    first, so they are codes 1..frequent[i]; empty for a spec encoded before the counts were kept)."""

    name: str
    cardinality: int
    side: str = "context"  # "user", "item" or "context": which entity the value belongs to
    frequent: tuple[int, ...] = ()


@dataclass(frozen=True)
class SequenceInfo:
    """A sequence input ``seq{j}``: tokens in 1..cardinality-1, 0 = padding, at most ``max_len``."""

    name: str
    cardinality: int
    max_len: int


@dataclass(frozen=True)
class HistoryInfo:
    """The behavior history in ``hist{a}`` / ``hist_len`` / ``hist_age`` (see the module docstring)."""

    max_len: int
    field_index: tuple[int, ...]     # attribute a -> index into DataSpec.fields (a = 0: the item field)
    n_age_buckets: int               # hist_age takes values 0..n_age_buckets-1
    source: str                      # e.g. "derived from user, item and timestamp" or "column 'hist'"


@dataclass(frozen=True)
class DataSpec:
    task: str                                  # "ctr", "rating" or "implicit"
    fields: tuple[FieldInfo, ...]              # batch["cat"][:, j] is fields[j]
    numeric: tuple[str, ...]                   # batch["num"][:, d] is numeric[d]
    buckets: tuple[FieldInfo, ...]             # batch["num_bkt"][:, d] is buckets[d]
    sequences: tuple[SequenceInfo, ...] = ()   # batch[f"seq{j}"] is sequences[j]
    user_field: int | None = None              # index into fields of the user id
    item_field: int | None = None              # index into fields of the item id
    has_timestamp: bool = False
    label_mean: float = 0.0                    # positive rate (ctr) or mean rating (rating)
    n_train: int = 0
    # Field-index pairs (i, j), i < j, best first, ranked on the training split by how much
    # the crossed pair tells about the label beyond its two fields (Wide & Deep's auto crosses). In these
    # three pair lists an index F + d (F = len(fields)) is numeric column d's bucket (``num_bkt`` column d).
    ranked_pairs: tuple[tuple[int, int], ...] = ()
    user_pairs: tuple[tuple[int, int], ...] = ()   # field pairs the user asked to cross
    # field pairs an earlier study's diagnostics found interacting, strongest first (``cross_source=diagnosed``)
    diagnosed_pairs: tuple[tuple[int, int], ...] = ()
    history: HistoryInfo | None = None
    # (source, determined, share): field ``source`` determines field ``determined`` (indices into fields) on
    # ``share`` of the training rows (``automl.features.dependencies``), e.g. item -> category
    dependencies: tuple[tuple[int, int, float], ...] = ()

    @property
    def n_fields(self) -> int:
        return len(self.fields)

    def available(self) -> set[str]:
        """The inputs this data offers, in the vocabulary of ``ModelCard.requires``."""
        have = set()
        if self.fields or self.buckets or self.sequences:
            have.add("fields")
        if self.user_field is not None:
            have.add("user")
        if self.item_field is not None:
            have.add("item")
        if self.sequences:
            have.add("sequence")
        if self.has_timestamp:
            have.add("timestamp")
        if self.history is not None:
            have.add("history")
        return have


def spec_to_dict(spec: DataSpec) -> dict:
    return asdict(spec)


def spec_from_dict(data: dict) -> DataSpec:
    return DataSpec(**{
        **data,
        "fields": tuple(FieldInfo(**{**f, "frequent": tuple(f.get("frequent", ()))}) for f in data["fields"]),
        "buckets": tuple(FieldInfo(**f) for f in data["buckets"]),
        "sequences": tuple(SequenceInfo(**s) for s in data["sequences"]),
        "numeric": tuple(data["numeric"]),
        "ranked_pairs": tuple(tuple(p) for p in data["ranked_pairs"]),
        "user_pairs": tuple(tuple(p) for p in data["user_pairs"]),
        "diagnosed_pairs": tuple(tuple(p) for p in data.get("diagnosed_pairs", ())),
        "dependencies": tuple(tuple(d) for d in data.get("dependencies", ())),
        "history": None if data.get("history") is None else HistoryInfo(
            **{**data["history"], "field_index": tuple(data["history"]["field_index"])}),
    })
