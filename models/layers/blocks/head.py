"""The scoring layer of models without a separate linear part."""

from __future__ import annotations

from torch import nn


def score_head(in_dim: int, init_bias: float) -> nn.Linear:
    """[B, in_dim] -> [B, 1], the bias starting at ``init_bias`` (see ``models.base.output_bias``)."""
    head = nn.Linear(in_dim, 1)
    nn.init.constant_(head.bias, init_bias)
    return head
