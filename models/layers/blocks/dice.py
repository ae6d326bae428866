"""Dice, DIN's data-adaptive activation (Zhou et al., 2018)."""

from __future__ import annotations

import torch
from torch import nn


class Dice(nn.Module):
    """[N, d] -> [N, d]: p = sigmoid((x - E[x]) / sqrt(Var[x] + eps)), out = p x + (1 - p) alpha x.

    E and Var are the batch statistics per feature in training (kept as running averages),
    the running averages in evaluation; alpha [d] is learned (starts at 0: a ReLU-like gate).
    """

    def __init__(self, dim: int, momentum: float = 0.1, eps: float = 1e-8):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(dim))
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()        # statistics in fp32, also under bf16 autocast
        if self.training and x.shape[0] > 1:
            mean, var = x.mean(0), x.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        p = torch.sigmoid((x - mean) / torch.sqrt(var + self.eps))
        return p * x + (1 - p) * self.alpha * x
