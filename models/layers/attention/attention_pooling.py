"""AFM's attention-based pooling of the pairwise interactions (Xiao et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn

from models.layers.interactions.pairs import elementwise_pairs, weighted_pair_sum
from models.layers.penalty import Penalized


class AttentionPairPooling(Penalized):
    """[B, F, k] -> (pooled [B, k], weights [B, P]), pairs in ``pairs`` order:

    a_ij = softmax over pairs of h^T ReLU(W (e_i ⊙ e_j) + b), W in R^{t x k} (t = attention size);
    pooled = sum_{i<j} a_ij (e_i ⊙ e_j) (``weighted_pair_sum``: one batched [B, F, F] product).

    ``l2`` > 0 regularises the attention network as the paper does: after each training forward,
    ``penalty`` = l2 · ‖W‖²_F, which the training loss adds (``RecModel.aux_loss``).
    """

    def __init__(self, dim: int, attention_size: int, l2: float = 0.0):
        super().__init__(l2)
        self.project = nn.Linear(dim, attention_size)
        self.h = nn.Linear(attention_size, 1, bias=False)

    def forward(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.l2 > 0 and self.training:
            self.penalty = self.l2 * self.project.weight.square().sum()
        pairs = elementwise_pairs(emb)
        # h^T as a matrix-vector product: the backward of a [.., 1] linear is a K = 1 matrix product
        weights = torch.softmax(torch.relu(self.project(pairs)) @ self.h.weight.squeeze(0), dim=1)
        return weighted_pair_sum(emb, weights), weights
