"""Deep Crossing's residual unit (Shan et al., 2016)."""

from __future__ import annotations

import torch
from torch import nn


class ResidualUnit(nn.Module):
    """[B, d] -> [B, d]: ReLU(x + W2 ReLU(W1 x + b1) + b2), W1 in R^{inner x d}, W2 in R^{d x inner}."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.inner = nn.Linear(dim, inner)
        self.outer = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.outer(torch.relu(self.inner(x))))
