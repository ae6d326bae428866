"""Factorization-machine interactions in O(F k), or O(F^2 k) with per-pair gates."""

from __future__ import annotations

import torch

from models.layers.interactions.gates import PairGates, gate_matrix
from models.layers.interactions.pairs import symmetric_pairs


def bi_interaction(emb: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
    """[B, F, k] -> [B, k]: sum_{i<j} e_i ⊙ e_j = 0.5 * ((sum_i e_i)^2 - sum_i e_i^2); with the
    pair gates A [F, F] (symmetric, zero diagonal) sum_{i<j} A_ij e_i ⊙ e_j = 0.5 * sum_i e_i ⊙ (A E)_i,
    O(F^2 k) per row without a [B, P, k] intermediate."""
    if gates is None:
        return 0.5 * (emb.sum(dim=1).pow(2) - emb.pow(2).sum(dim=1))
    return 0.5 * (emb * torch.matmul(gates, emb)).sum(dim=1)


def fm_interaction(emb: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
    """[B, F, k] -> [B]: sum_{i<j} <e_i, e_j> (times A_ij with the pair gates A [F, F]), the FM
    second-order term."""
    return bi_interaction(emb, gates).sum(dim=1)


def pairwise_dots(emb: torch.Tensor) -> torch.Tensor:
    """[B, F, k] -> [B, F, F]: <e_i, e_j> for every pair (diagnostics: which pairs a model uses)."""
    return emb @ emb.transpose(1, 2)


def fm_pair_variance(emb: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
    """[B, F, k] -> [F, F]: the variance over the B rows (population) of each pair's FM term
    <e_i, e_j>, times its gate ``gates`` [F, F] when the pairs are gated, zero diagonal (the
    ``pairs:fm`` diagnostic)."""
    dots = pairwise_dots(emb) if gates is None else pairwise_dots(emb) * gates
    return symmetric_pairs(dots.var(0, unbiased=False))


def fm_pair_views(emb: torch.Tensor, gates: PairGates | None) -> dict[str, torch.Tensor]:
    """[B, F, k] -> ``pairs:fm`` [F, F] (``fm_pair_variance`` of the FM term, gated by ``gates``
    when there are any) and, with gates, ``pairs:gates`` [F, F], each pair's |α_ij|."""
    n = emb.shape[1]
    views = {"pairs:fm": fm_pair_variance(emb, gate_matrix(gates, n))}
    return views if gates is None else {**views, "pairs:gates": gates.strength(n)}
