"""Factorization-machine interactions in O(F k)."""

from __future__ import annotations

import torch

from models.layers.interactions.pairs import symmetric_pairs


def bi_interaction(emb: torch.Tensor) -> torch.Tensor:
    """[B, F, k] -> [B, k]: sum_{i<j} e_i ⊙ e_j = 0.5 * ((sum_i e_i)^2 - sum_i e_i^2)."""
    return 0.5 * (emb.sum(dim=1).pow(2) - emb.pow(2).sum(dim=1))


def fm_interaction(emb: torch.Tensor) -> torch.Tensor:
    """[B, F, k] -> [B]: sum_{i<j} <e_i, e_j>, the FM second-order term."""
    return bi_interaction(emb).sum(dim=1)


def pairwise_dots(emb: torch.Tensor) -> torch.Tensor:
    """[B, F, k] -> [B, F, F]: <e_i, e_j> for every pair (diagnostics: which pairs a model uses)."""
    return emb @ emb.transpose(1, 2)


def fm_pair_variance(emb: torch.Tensor) -> torch.Tensor:
    """[B, F, k] -> [F, F]: the variance over the B rows (population) of each pair's FM term
    <e_i, e_j>, zero diagonal (the ``pairs:fm`` diagnostic)."""
    return symmetric_pairs(pairwise_dots(emb).var(0, unbiased=False))
