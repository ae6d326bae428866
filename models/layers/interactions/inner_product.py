"""IPNN's inner-product layer (Qu et al., 2016)."""

from __future__ import annotations

import torch

from models.layers.interactions.pairs import elementwise_pairs


def inner_products(emb: torch.Tensor) -> torch.Tensor:
    """[B, F, k] -> [B, P]: <e_i, e_j> for every pair i < j in ``pairs`` order, P = F(F-1)/2."""
    return elementwise_pairs(emb).sum(dim=-1)
