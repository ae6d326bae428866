"""IPNN's inner-product layer (Qu et al., 2016)."""

from __future__ import annotations

import torch

from models.layers.interactions.pairs import pair_index


def inner_products(emb: torch.Tensor) -> torch.Tensor:
    """[B, F, k] -> [B, P]: <e_i, e_j> for every pair i < j in ``pairs`` order, P = F(F-1)/2: the
    Gram matrix E E^T [B, F, F] in one batched product, its upper triangle picked by flat index (no
    [B, P, k] intermediate)."""
    rows, cols = pair_index(emb.shape[1], emb.device)
    return torch.bmm(emb, emb.transpose(1, 2)).flatten(1).index_select(1, rows * emb.shape[1] + cols)
