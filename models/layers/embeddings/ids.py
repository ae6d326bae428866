"""Embeddings of a few categorical fields read straight from ``batch["cat"]`` (user and item ids,
a tower's fields), for the collaborative-filtering models."""

from __future__ import annotations

import torch
from torch import nn

from models.layers.penalty import Penalized
from models.spec import DataSpec


class ColumnEmbedding(Penalized):
    """codes [*, n] (the fields ``columns`` of ``spec``, in that order) -> [*, n, dim].

    One table with per-field offsets. With ``l2 > 0`` a training forward pass leaves
    ``penalty`` = l2 * (sum of squared looked-up entries) / (leading batch size), the same
    per-row regularization as ``FieldEmbedding``.
    """

    def __init__(self, spec: DataSpec, columns: list[int], dim: int, l2: float = 0.0, std: float = 0.01):
        super().__init__(l2)
        cards = [spec.fields[j].cardinality for j in columns]
        self.columns, self.dim = list(columns), dim
        self.register_buffer("offsets", torch.tensor([0] + cards[:-1], dtype=torch.long).cumsum(0), persistent=False)
        self.table = nn.Embedding(sum(cards), dim)
        nn.init.normal_(self.table.weight, std=std)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        out = self.table(codes + self.offsets)
        if self.l2 > 0 and self.training:
            self.penalty = self.l2 * out.pow(2).sum() / out.shape[0]
        return out

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """-> [B, n, dim] for the batch's rows."""
        return self.lookup(batch["cat"][:, self.columns])


def user_item(spec: DataSpec, dim: int, l2: float = 0.0, std: float = 0.01) -> ColumnEmbedding:
    """The embedding of the (user id, item id) pair: forward(batch)[:, 0] = p_u, [:, 1] = q_i."""
    return ColumnEmbedding(spec, [spec.user_field, spec.item_field], dim, l2, std)
