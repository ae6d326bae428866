"""OPNN's pairwise outer-product layer (Qu et al., 2016; kernels of the 2018 journal version)."""

from __future__ import annotations

import torch
from torch import nn

from models.layers.interactions.pairs import pair_fields

KERNELS = ("mat", "vec", "num")


class OuterProduct(nn.Module):
    """[B, F, k] -> [B, P]: each pair's outer product e_i e_j^T reduced to one scalar by a
    learnable kernel, pairs in ``pairs`` order:

    - ``mat``: p_ij = e_i^T W_ij e_j, W_ij in R^{k x k}
    - ``vec``: p_ij = sum_d e_i[d] w_ij[d] e_j[d], w_ij in R^k
    - ``num``: p_ij = w_ij <e_i, e_j>, w_ij a scalar

    Kernels start as the identity (p_ij = <e_i, e_j>, IPNN's product).
    """

    def __init__(self, n_fields: int, dim: int, kernel: str = "mat"):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"unknown outer-product kernel {kernel!r}; expected one of {KERNELS}")
        n_pairs = n_fields * (n_fields - 1) // 2
        self.kernel_type = kernel
        if kernel == "mat":
            init = torch.eye(dim).repeat(n_pairs, 1, 1)
        else:
            init = torch.ones(n_pairs, dim) if kernel == "vec" else torch.ones(n_pairs)
        self.kernel = nn.Parameter(init)
        self.out_dim = n_pairs

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        left, right = pair_fields(emb)
        if self.kernel_type == "mat":
            return torch.einsum("bpa,pac,bpc->bp", left, self.kernel, right)
        if self.kernel_type == "vec":
            return (left * self.kernel * right).sum(dim=-1)
        return self.kernel * (left * right).sum(dim=-1)
