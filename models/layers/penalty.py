"""The regularization hook of layers that add a penalty term to the training loss."""

from __future__ import annotations

import torch
from torch import nn


class Penalized(nn.Module):
    """A layer whose training forward pass may leave ``penalty``: a scalar term that the training
    loss adds (``RecModel.aux_loss``), an L2 term weighted by ``l2`` (0: never) or the layer's own
    (``PairGates``: L1 on its gates). It holds that batch's graph until the next training pass or
    ``drop_penalty``; an eval pass never sets it."""

    def __init__(self, l2: float = 0.0):
        super().__init__()
        self.l2 = l2
        self.penalty: torch.Tensor | None = None

    def drop_penalty(self) -> None:
        self.penalty = None
