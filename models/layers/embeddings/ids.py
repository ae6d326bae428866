"""Embeddings of a few categorical fields read straight from ``batch["cat"]`` (user and item ids,
a tower's fields), for the collaborative-filtering models."""

from __future__ import annotations

import torch
from torch import nn

from models.layers.embeddings.vocabulary import EVERY_VALUE, CodeRows, Vocabulary
from models.layers.penalty import Penalized
from models.spec import DataSpec


class ColumnEmbedding(Penalized):
    """codes [*, n] (the fields ``columns`` of ``spec``, in that order) -> [*, n, dim].

    One table with per-field offsets, its rows as ``vocab`` says (``FieldEmbedding``). With ``l2 > 0``
    a training forward pass leaves ``penalty`` = l2 * (sum of squared looked-up entries) / (leading
    batch size), the same per-row regularization as ``FieldEmbedding``.
    """

    def __init__(self, spec: DataSpec, columns: list[int], dim: int, l2: float = 0.0, std: float = 0.01,
                 vocab: Vocabulary = EVERY_VALUE):
        super().__init__(l2)
        self.columns, self.dim = list(columns), dim
        self.rows = CodeRows.of([spec.fields[j] for j in columns], vocab)
        self.table = nn.Embedding(self.rows.n_rows, dim)
        nn.init.normal_(self.table.weight, std=std)

    @property
    def offsets(self) -> torch.Tensor:
        """[n] the first table row of each of the ``columns``."""
        return self.rows.offsets

    def vectors(self, codes: torch.Tensor, columns: list[int] | None = None) -> torch.Tensor:
        """codes [*, n] of the fields ``columns`` (positions in this table's ``columns``; default all)
        -> [*, n, dim], leaving the penalty as it was."""
        return self.rows.lookup(self.table, codes, columns)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [*, n] of every one of the ``columns`` -> [*, n, dim], the penalty of what was looked up."""
        out = self.vectors(codes)
        if self.l2 > 0 and self.training:
            self.penalty = self.l2 * out.pow(2).sum() / out.shape[0]
        return out

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """-> [B, n, dim] for the batch's rows."""
        return self.lookup(batch["cat"][:, self.columns])


def user_item(spec: DataSpec, dim: int, l2: float = 0.0, std: float = 0.01,
              vocab: Vocabulary = EVERY_VALUE) -> ColumnEmbedding:
    """The embedding of the (user id, item id) pair: forward(batch)[:, 0] = p_u, [:, 1] = q_i."""
    return ColumnEmbedding(spec, [spec.user_field, spec.item_field], dim, l2, std, vocab)
