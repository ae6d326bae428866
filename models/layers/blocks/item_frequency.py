"""The sampling-bias correction of in-batch softmax (Yi et al., 2019): how often each item turns
up in the training stream, estimated while training."""

from __future__ import annotations

import torch
from torch import nn


class ItemFrequency(nn.Module):
    """Running counts of the items of every training batch seen so far.

    ``update(items)`` adds a batch's item codes [B]; ``log_q(items)`` [B] = log(count / total),
    the log of the estimated probability that a stream row shows the item (an in-batch negative
    is sampled that often; the batch size only adds a constant, which the softmax ignores).
    Items never seen yet count as seen once.
    """

    def __init__(self, n_items: int):
        super().__init__()
        self.register_buffer("counts", torch.zeros(n_items))
        self.register_buffer("total", torch.zeros(()))

    def update(self, items: torch.Tensor) -> None:
        self.counts.index_add_(0, items, torch.ones_like(items, dtype=self.counts.dtype))
        self.total += items.numel()

    def log_q(self, items: torch.Tensor) -> torch.Tensor:
        return torch.log(self.counts[items].clamp(min=1.0) / self.total.clamp(min=1.0))
