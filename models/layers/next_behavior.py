"""DIEN's auxiliary loss: each interest state must predict the next real behavior."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import softplus

from models.layers.mlp import MLP


class NextBehaviorLoss(nn.Module):
    """states [B, L, H], steps [B, L, d], mask [B, L] -> scalar loss (None without a next step).

    For every real step t with a real step t + 1: -log s(h_t, e_{t+1}) - log(1 - s(h_t, e^-)),
    s = sigmoid(MLP(concat(h, e))) (the authors' 100-50 auxiliary net). The negative e^- is drawn
    uniformly from the real history steps of the whole batch: a real item with its real
    attributes, drawn in proportion to how often it occurs (an in-batch unigram sampler).
    """

    def __init__(self, hidden: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(MLP(hidden + dim, (100, 50), activation="sigmoid"), nn.Linear(50, 1))

    def score(self, states: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([states, items], dim=-1)).squeeze(-1)

    def forward(self, states: torch.Tensor, steps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        pairs = mask[:, 1:]
        if not pairs.any():
            return None
        pool = steps[mask]
        negatives = pool[torch.randint(len(pool), pairs.shape, device=steps.device)]
        h = states[:, :-1][pairs]
        return (softplus(-self.score(h, steps[:, 1:][pairs])) + softplus(self.score(h, negatives[pairs]))).mean()
