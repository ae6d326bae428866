"""Which rows of an embedding table a field's codes read, under the searched vocabulary options.

Codes come from encoding (``automl.features.encode``): 0 is out of vocabulary or missing, 1.. the
training values most frequent first, so every option is a cut of a prefix:

- ``min_count`` (one of ``MIN_COUNTS``): values seen fewer times in training read the OOV row (their
  codes lie past ``FieldInfo.frequent[i]``, the count of values seen at least ``MIN_COUNTS[i]`` times);
- ``tail`` "quotient_remainder": in a field of more than ``QR_ROWS`` values, the ``QR_ROWS`` most frequent
  keep rows of their own and each rarer kept value t (counted from 0 past them) is the sum of a quotient
  row t // m and a remainder row t % m, m = ceil(sqrt(tail size)): about 2 sqrt(n) rows for n values,
  every value a distinct pair (quotient-remainder embeddings, Shi et al., KDD 2020).

- ``embedding_dims`` "by_frequency" (mixed dimensions, Ginart et al., 2021): a categorical field of many
  values, each seen less often, gets a narrower table (``narrow_width``) projected to the model's k.

The options change no code: a model trained with them scores new rows encoded by the same ``Encoder``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from models.spec import MIN_COUNTS, FieldInfo

QR_ROWS = 1 << 16            # values with rows of their own before a field's tail is compressed
TAILS = ["own", "quotient_remainder"]
NARROW_FROM = 1 << 12        # kept values past which "by_frequency" narrows a field's embedding
DIMS = ["same", "by_frequency"]


@dataclass(frozen=True)
class Vocabulary:
    """The vocabulary options of one configuration (``params`` keys ``min_count``, ``tail`` and
    ``embedding_dims``)."""

    min_count: int = 1
    compress: bool = False
    mixed: bool = False

    @classmethod
    def of(cls, params: dict) -> Vocabulary:
        return cls(int(params.get("min_count", 1)), params.get("tail", "own") == "quotient_remainder",
                   params.get("embedding_dims", "same") == "by_frequency")


EVERY_VALUE = Vocabulary()     # the defaults: every training value keeps a row of its own


def kept_codes(info: FieldInfo, min_count: int) -> int:
    """The highest code of ``info`` that keeps a row: codes past it were seen fewer than ``min_count``
    times in training (every code when the spec predates the counts)."""
    if min_count <= 1 or not info.frequent:
        return info.cardinality - 1
    return info.frequent[MIN_COUNTS.index(min_count)]


def narrow_width(kept: int, dim: int) -> int:
    """The width of a field of ``kept`` values under "by_frequency": ``dim`` up to ``NARROW_FROM`` values,
    then dim * (NARROW_FROM / kept) ** 1/4 (rounded, at least 2): a quarter of it at 2^20 values."""
    if kept <= NARROW_FROM:
        return dim
    return max(min(2, dim), min(dim, round(dim * (NARROW_FROM / kept) ** 0.25)))


@dataclass(frozen=True)
class FieldLayout:
    """One field's rows, from the field's first row: the OOV row, ``head`` rows of their own, then
    ``quotients`` and ``remainders`` rows of the compressed tail (codes head+1 .. head+tail)."""

    head: int
    tail: int = 0

    @property
    def modulus(self) -> int:
        return math.isqrt(self.tail - 1) + 1 if self.tail else 0

    @property
    def quotients(self) -> int:
        return -(-self.tail // self.modulus) if self.tail else 0

    @property
    def rows(self) -> int:
        return 1 + self.head + self.quotients + self.modulus


def layout(info: FieldInfo, vocab: Vocabulary, compressible: bool = True) -> FieldLayout:
    """The rows ``info``'s codes read under ``vocab`` (``compressible`` False: numeric buckets, never cut)."""
    if not compressible:
        return FieldLayout(info.cardinality - 1)
    kept = kept_codes(info, vocab.min_count)
    if vocab.compress and kept > QR_ROWS:
        return FieldLayout(QR_ROWS, kept - QR_ROWS)
    return FieldLayout(kept)


class CodeRows(nn.Module):
    """codes [*, F] of F fields -> rows of one table holding every field's rows (``n_rows`` in all).

    ``offsets`` [F]: each field's first row. When every code keeps a row of its own (the defaults)
    a lookup is ``table(codes + offsets)``, as it always was."""

    def __init__(self, layouts: list[FieldLayout], cards: list[int]):
        super().__init__()
        sizes = [lay.rows for lay in layouts]
        self.n_rows = max(sum(sizes), 1)
        starts = torch.tensor([0] + sizes[:-1], dtype=torch.long).cumsum(0) if sizes else torch.zeros(0, dtype=torch.long)
        self.register_buffer("offsets", starts, persistent=False)
        self.identity = all(lay.head == card - 1 and not lay.tail for lay, card in zip(layouts, cards, strict=True))
        self.compressed = [j for j, lay in enumerate(layouts) if lay.tail]
        as_tensor = {"head": [lay.head for lay in layouts], "tail": [lay.tail for lay in layouts],
                     "modulus": [max(lay.modulus, 1) for lay in layouts],
                     "remainder_start": [1 + lay.head + lay.quotients for lay in layouts]}
        for name, values in as_tensor.items():
            self.register_buffer(name, torch.tensor(values, dtype=torch.long), persistent=False)

    def lookup(self, table: nn.Embedding, codes: torch.Tensor, columns: list[int] | None = None) -> torch.Tensor:
        """codes [*, n] of the fields ``columns`` (default: all F, in order) -> vectors [*, n, k]."""
        index = slice(None) if columns is None else torch.as_tensor(columns, device=codes.device)
        offsets = self.offsets[index]
        if self.identity:
            return table(codes + offsets)
        head, tail = self.head[index], self.tail[index]
        in_tail = (codes > head) & (codes <= head + tail)
        t = (codes - head - 1).clamp(min=0)
        modulus = self.modulus[index]
        own = torch.where(codes > head, 0, codes)
        out = table(torch.where(in_tail, head + 1 + t // modulus, own) + offsets)
        if not self.compressed:
            return out
        remainder = table(self.remainder_start[index] + t % modulus + offsets)
        return out + remainder * in_tail.unsqueeze(-1)

    @classmethod
    def of(cls, infos: list[FieldInfo], vocab: Vocabulary, n_compressible: int | None = None) -> CodeRows:
        """The rows of ``infos`` under ``vocab``; only the first ``n_compressible`` (default all) are cut."""
        n = len(infos) if n_compressible is None else n_compressible
        return cls([layout(info, vocab, j < n) for j, info in enumerate(infos)], [info.cardinality for info in infos])
