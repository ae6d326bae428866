"""Wide & Deep's cross-product transformation: the AND of two categorical fields."""

from __future__ import annotations

import torch
from torch import nn

from models.layers.interactions.gates import PairGates

MAX_CROSS_BUCKETS = 1 << 20


class CrossProductWeights(nn.Module):
    """[B, F] field ids -> [B]: sum over the chosen field pairs (a, b) of a weight for the
    crossed value (x_a, x_b), each times its gate α_ab when ``forward`` is given gates. A pair
    with up to 2^20 combinations gets one weight per combination; a larger one is hashed into
    2^20 weights. The fields are any columns of codes (Wide & Deep: the categorical fields, then
    the numeric columns' quantile buckets)."""

    def __init__(self, cardinalities: list[int], pairs: list[tuple[int, int]]):
        super().__init__()
        sizes = [min(cardinalities[a] * cardinalities[b], MAX_CROSS_BUCKETS) for a, b in pairs]
        self.register_buffer("left", torch.tensor([a for a, _ in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("right", torch.tensor([b for _, b in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("right_card", torch.tensor([cardinalities[b] for _, b in pairs], dtype=torch.long),
                             persistent=False)
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.long), persistent=False)
        offsets = torch.tensor([0] + sizes[:-1], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.weights = nn.Embedding(max(sum(sizes), 1), 1)
        nn.init.zeros_(self.weights.weight)
        self.n_pairs = len(pairs)

    def crossed_ids(self, cat: torch.Tensor) -> torch.Tensor:
        """[B, F] -> [B, P]: the row's index into the weight table for each pair."""
        combined = cat[:, self.left] * self.right_card + cat[:, self.right]
        return combined % self.sizes + self.offsets

    def pair_weights(self, cat: torch.Tensor) -> torch.Tensor:
        """[B, F] -> [B, P]: the weight each row looks up for each pair."""
        return self.weights(self.crossed_ids(cat)).squeeze(-1)

    def forward(self, cat: torch.Tensor, gates: PairGates | None = None) -> torch.Tensor:
        if self.n_pairs == 0:
            return cat.new_zeros(cat.shape[0], dtype=torch.float32)
        weights = self.pair_weights(cat)
        return (weights if gates is None else gates(weights)).sum(dim=1)
