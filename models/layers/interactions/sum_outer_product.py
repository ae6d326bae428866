"""The PNN paper's cheap OPNN: the outer product of the sum of the field embeddings."""

from __future__ import annotations

import torch
from torch import nn


class SumOuterProduct(nn.Module):
    """[B, F, k] -> [B, D1]: with f_S = sum_i e_i, p = f_S f_S^T (k x k) and
    l_n = sum_{a,c} W_n[a, c] p[a, c] = f_S^T W_n f_S for n = 1..D1.

    O(D1 k^2) instead of O(F^2 k^2), at the price of adding up fields that live in different
    spaces before crossing them."""

    def __init__(self, dim: int, n_out: int):
        super().__init__()
        self.kernels = nn.Parameter(torch.randn(n_out, dim, dim) / dim)
        self.out_dim = n_out

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        total = emb.sum(dim=1)                                                # [B, k]
        outer = (total.unsqueeze(2) * total.unsqueeze(1)).flatten(1)          # [B, k^2]: no [B, D1, k] step
        return outer @ self.kernels.flatten(1).T
