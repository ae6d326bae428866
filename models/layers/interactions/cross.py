"""DCN-V2's cross layer (Wang et al., 2021)."""

from __future__ import annotations

import torch
from torch import nn


class CrossLayer(nn.Module):
    """(x0 [B, d], x_l [B, d]) -> x_{l+1} [B, d] = x0 ⊙ (W x_l + b) + x_l.

    ``rank=None``: W is a full d x d matrix; ``rank=r``: W = U V^T with U, V in R^{d x r}
    (computed as U (V^T x_l), O(d r) per row)."""

    def __init__(self, dim: int, rank: int | None = None):
        super().__init__()
        if rank is None:
            self.weight = nn.Linear(dim, dim)
        else:
            self.weight = nn.Sequential(nn.Linear(dim, rank, bias=False), nn.Linear(rank, dim))

    def matrix(self) -> torch.Tensor:
        """W [d, d] (U V^T for a low-rank layer)."""
        if isinstance(self.weight, nn.Linear):
            return self.weight.weight
        down, up = self.weight
        return up.weight @ down.weight

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.weight(x) + x


class CrossNetwork(nn.Module):
    """[B, d] -> [B, d]: ``n_layers`` cross layers, each crossing with the input x0."""

    def __init__(self, dim: int, n_layers: int, rank: int | None = None):
        super().__init__()
        self.layers = nn.ModuleList(CrossLayer(dim, rank) for _ in range(n_layers))

    def block_norms(self, block: torch.Tensor, n_blocks: int) -> torch.Tensor:
        """block [d] (the block 0..n-1 of each input coordinate) -> [n, n]: the Frobenius norm
        of W[block a, block b] summed over the layers' W."""
        squares = [layer.matrix().square() for layer in self.layers]
        member = nn.functional.one_hot(block, n_blocks).to(squares[0].dtype)      # [d, n]
        return sum((member.T @ square @ member).sqrt() for square in squares)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = layer(x0, x)
        return x
