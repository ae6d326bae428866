"""DIEN's auxiliary loss: each interest state must predict the next real behavior."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import softplus


class NextBehaviorLoss(nn.Module):
    """states [B, L, H], steps [B, L, d], mask [B, L] -> scalar loss (None without a next step).

    For every real step t with a real step t + 1: -log s(h_t, e_{t+1}) - log(1 - s(h_t, e^-)) with
    s(h, e) = sigmoid(<h, W e>) (the paper's inner product, W [H, d] bridging the widths). The
    negative e^- is drawn uniformly from the real history steps of the whole batch: a real item
    with its real attributes, in proportion to how often it occurs (an in-batch unigram sampler;
    it may coincide with the positive now and then, which only adds a little label noise).
    """

    def __init__(self, hidden: int, dim: int):
        super().__init__()
        self.project = nn.Linear(dim, hidden, bias=False)

    def score(self, states: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (states * self.project(items)).sum(-1)

    def forward(self, states: torch.Tensor, steps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        pairs = mask[:, 1:]
        if not pairs.any():
            return None
        pool = steps[mask]
        negatives = pool[torch.randint(len(pool), pairs.shape, device=steps.device)]
        h = states[:, :-1][pairs]
        return (softplus(-self.score(h, steps[:, 1:][pairs])) + softplus(self.score(h, negatives[pairs]))).mean()
