"""Field pairs i < j in one fixed order, shared by every pairwise operator.

The order is row-major over the upper triangle: (0,1), (0,2), ..., (0,F-1), (1,2), ..., (F-2,F-1),
so pair p of an [B, P] output (P = F(F-1)/2) always means the same two fields.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import torch


def n_pairs(n_fields: int) -> int:
    """P = F(F-1)/2, the number of pairs i < j."""
    return n_fields * (n_fields - 1) // 2


@lru_cache(maxsize=64)
def pair_index(n_fields: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows [P], cols [P]): the fields i and j of every pair i < j, row-major (constants: an
    exported graph holds them as such; ``torch.triu_indices`` has no ONNX form). Never modify them."""
    pairs = list(itertools.combinations(range(n_fields), 2))
    rows = torch.tensor([i for i, _ in pairs], dtype=torch.long, device=device)
    cols = torch.tensor([j for _, j in pairs], dtype=torch.long, device=device)
    return rows, cols


def pair_fields(emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, F, k] -> (e_i [B, P, k], e_j [B, P, k]) for every pair i < j (``index_select``: its
    backward is a plain scatter-add, not advanced indexing's sort)."""
    rows, cols = pair_index(emb.shape[1], emb.device)
    return emb.index_select(1, rows), emb.index_select(1, cols)


def elementwise_pairs(emb: torch.Tensor) -> torch.Tensor:
    """[B, F, k] -> [B, P, k]: e_i ⊙ e_j for every pair i < j."""
    left, right = pair_fields(emb)
    return left * right


def weighted_pair_sum(emb: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """[B, F, k] embeddings, [B, P] pair weights in ``pair_index`` order -> [B, k]:
    sum_{i<j} w_ij (e_i ⊙ e_j), computed as sum_i e_i ⊙ (A E)_i with A [B, F, F] holding w_ij in its
    strict upper triangle: one batched product, no [B, P, k] term (nor its gradient)."""
    batch, n_fields, _ = emb.shape
    rows, cols = pair_index(n_fields, emb.device)
    upper = weights.new_zeros(batch, n_fields * n_fields).index_copy(1, rows * n_fields + cols, weights)
    return (emb * torch.bmm(upper.view(batch, n_fields, n_fields), emb)).sum(1)


def pair_matrix(values: torch.Tensor, n_fields: int,
                index: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """[P] per-pair values -> [F, F] symmetric matrix with a zero diagonal (diagnostics).

    Value p goes to (rows[p], cols[p]) and (cols[p], rows[p]) of ``index`` (rows [P], cols [P]),
    by default ``pair_index`` order; a pair listed twice gets the sum."""
    rows, cols = pair_index(n_fields, values.device) if index is None else index
    out = values.new_zeros(n_fields, n_fields)
    out.index_put_((rows, cols), values, accumulate=True)
    out.index_put_((cols, rows), values, accumulate=True)
    return out.fill_diagonal_(0)


def symmetric_pairs(matrix: torch.Tensor) -> torch.Tensor:
    """[F, F] -> (M + M^T) / 2 with a zero diagonal (diagnostics)."""
    return ((matrix + matrix.T) / 2).fill_diagonal_(0)
