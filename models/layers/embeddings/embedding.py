"""Field embeddings: every categorical field, bucketized numeric column and sequence column
becomes one k-dimensional vector per row."""

from __future__ import annotations

import torch
from torch import nn

from models.layers.embeddings.vocabulary import EVERY_VALUE, CodeRows, Vocabulary, kept_codes, narrow_width
from models.layers.penalty import Penalized
from models.spec import DataSpec, column_name


class FieldEmbedding(Penalized):
    """``batch`` -> [B, F', k]: the categorical fields, then (if ``use_buckets``) the numeric
    bucket fields, then each sequence column mean-pooled over its non-padding tokens.

    Categorical and bucket fields share one table with per-field offsets (one gather per batch); which
    rows a field's codes read follows ``vocab`` (``models.layers.embeddings.vocabulary``: the rarest values
    of the categorical fields may share the OOV row or a compressed tail; buckets keep every row).
    ``names`` [F']: the schema column of each row (a bucket field is named after its numeric column).
    With ``l2 > 0`` a training forward pass leaves ``penalty`` = l2 * mean over rows of the squared norm
    of the vectors it looked up (regularizing only what the batch used).
    """

    def __init__(self, spec: DataSpec, dim: int, use_buckets: bool = False, l2: float = 0.0,
                 vocab: Vocabulary = EVERY_VALUE):
        super().__init__(l2)
        infos = list(spec.fields) + (list(spec.buckets) if use_buckets else [])
        self.n_cat, self.use_buckets, self.dim = len(spec.fields), use_buckets, dim
        widths = [narrow_width(kept_codes(info, vocab.min_count), dim) if vocab.mixed and j < self.n_cat else dim
                  for j, info in enumerate(infos)]
        self.wide = [j for j, width in enumerate(widths) if width == dim]      # the fields of ``table``
        self.rows = CodeRows.of([infos[j] for j in self.wide], vocab,
                                n_compressible=sum(j < self.n_cat for j in self.wide))
        self.table = nn.Embedding(self.rows.n_rows, dim)
        self.narrow = nn.ModuleList(
            NarrowFields([infos[j] for j in columns], columns, vocab, width, dim)
            for width in sorted({w for w in widths if w < dim})
            for columns in [[j for j, w in enumerate(widths) if w == width]])
        self.sequences = nn.ModuleList(
            nn.Embedding(s.cardinality, dim, padding_idx=0) for s in spec.sequences
        )
        self.n_fields = len(infos) + len(spec.sequences)
        self.names = [f.name for f in spec.fields] + [column_name(b.name) for b in spec.buckets if use_buckets]
        self.names += [s.name for s in spec.sequences]
        nn.init.normal_(self.table.weight, std=0.01)
        for table in self.sequences:
            nn.init.normal_(table.weight, std=0.01)
            with torch.no_grad():
                table.weight[0].zero_()

    @property
    def offsets(self) -> torch.Tensor:
        """[F'] the first table row of each categorical and bucket field."""
        return self.rows.offsets

    def lookup(self, codes: torch.Tensor, columns: list[int] | None = None) -> torch.Tensor:
        """codes [*, n] of the fields ``columns`` (indices into the categorical and bucket fields; default
        all) -> [*, n, k]: each field from its table, a narrow one projected to k."""
        if not self.narrow:
            return self.rows.lookup(self.table, codes, columns)
        columns = list(range(codes.shape[-1])) if columns is None else list(columns)
        parts, order = [], []
        for group, read in [(self.wide, lambda c, local: self.rows.lookup(self.table, c, local)),
                            *[(g.columns, g.lookup) for g in self.narrow]]:
            picked = [i for i, c in enumerate(columns) if c in group]
            if picked:
                parts.append(read(codes[..., picked], [group.index(columns[i]) for i in picked]))
                order += picked
        out = torch.cat(parts, dim=-2) if len(parts) > 1 else parts[0]
        return out[..., sorted(range(len(order)), key=order.__getitem__), :]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["cat"]
        if self.use_buckets:
            ids = torch.cat([ids, batch["num_bkt"]], dim=1)
        parts = [self.lookup(ids)] if ids.shape[1] else []
        for j, table in enumerate(self.sequences):
            tokens = batch[f"seq{j}"]
            real = (tokens > 0).unsqueeze(-1)
            pooled = (table(tokens) * real).sum(1) / real.sum(1).clamp(min=1)
            parts.append(pooled.unsqueeze(1))
        if not parts:
            return batch["num"].new_zeros(batch["num"].shape[0], 0, self.dim)
        out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        if self.l2 > 0 and self.training:
            self.penalty = self.l2 * out.pow(2).sum() / out.shape[0]
        return out


class NarrowFields(nn.Module):
    """Categorical fields embedded ``width`` < k wide (``narrow_width``), each projected to k by its own
    [width, k] matrix; ``columns``: their indices among the FieldEmbedding's fields."""

    def __init__(self, infos: list, columns: list[int], vocab: Vocabulary, width: int, dim: int):
        super().__init__()
        self.columns = columns
        self.rows = CodeRows.of(infos, vocab)
        self.table = nn.Embedding(self.rows.n_rows, width)
        nn.init.normal_(self.table.weight, std=0.01)
        self.projection = nn.Parameter(torch.randn(len(columns), width, dim) / width ** 0.5)   # keeps the scale

    def lookup(self, codes: torch.Tensor, local: list[int]) -> torch.Tensor:
        """codes [*, n] of the fields at positions ``local`` of ``columns`` -> [*, n, k]."""
        vectors = self.rows.lookup(self.table, codes, local)
        return torch.einsum("...nw,nwk->...nk", vectors, self.projection[local])


class FirstOrder(nn.Module):
    """The linear part sum_f w_f(x_f) + w . num + b -> [B]. ``bias`` starts at ``init_bias``."""

    def __init__(self, spec: DataSpec, use_buckets: bool, use_numeric: bool, init_bias: float = 0.0,
                 vocab: Vocabulary = EVERY_VALUE):
        super().__init__()
        self.weights = FieldEmbedding(spec, 1, use_buckets=use_buckets, vocab=vocab)
        nn.init.zeros_(self.weights.table.weight)
        self.numeric = nn.Linear(len(spec.numeric), 1, bias=False) if use_numeric and spec.numeric else None
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.weights(batch).sum(dim=(1, 2)) + self.bias
        if self.numeric is not None:
            out = out + self.numeric(batch["num"]).squeeze(1)
        return out
