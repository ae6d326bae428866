"""xDeepFM's Compressed Interaction Network (Lian et al., 2018)."""

from __future__ import annotations

import torch
from torch import nn


class CIN(nn.Module):
    """[B, m, k] field embeddings X^0 -> [B, out_dim] sum-pooled feature maps.

    Layer l: X^l_h = sum_{i,j} W^{l,h}_{ij} (X^{l-1}_i ⊙ X^0_j), h = 1..H_l, each a k-vector
    (``layers[l].weight`` viewed as [H_l, H_{l-1}, m] holds W^{l,h}_{ij}). Every feature map that
    goes to the output is sum-pooled over k. With ``split_half`` every layer but the last feeds its
    first half of maps to the next layer and sends the second half to the output (sizes must be
    even); otherwise all maps of a layer do both.
    """

    def __init__(self, n_fields: int, layer_sizes: tuple[int, ...], split_half: bool = True):
        super().__init__()
        self.halve = [split_half and depth < len(layer_sizes) - 1 for depth in range(len(layer_sizes))]
        self.layers = nn.ModuleList()
        width, self.out_dim = n_fields, 0
        for size, halve in zip(layer_sizes, self.halve):
            if halve and size % 2:
                raise ValueError(f"CIN layer size {size} must be even with split_half")
            self.layers.append(nn.Linear(width * n_fields, size, bias=False))
            width = size // 2 if halve else size
            self.out_dim += width

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        """Computed in the [B, k, maps] layout, where each layer is one ``linear`` over the last
        dimension. The products X^{l-1}_i ⊙ X^0_j of a layer are, per row and embedding position,
        one outer product: a ``bmm`` of [B k, H, 1] by [B k, 1, m], whose backward is a batched
        matrix-vector product (no [B, k, H, m] temporary, as a broadcast multiply's has)."""
        batch, n_fields, dim = x0.shape
        x = x0.transpose(1, 2)                                               # [B, k, m] (a view)
        right = x.reshape(batch * dim, 1, n_fields)                          # [B k, 1, m]
        pooled = []
        for layer, halve in zip(self.layers, self.halve):
            z = torch.bmm(x.reshape(batch * dim, -1, 1), right).view(batch, dim, -1)   # [B, k, H m]
            maps = layer(z)                                                  # [B, k, H_l]
            x, out = maps.chunk(2, dim=2) if halve else (maps, maps)
            pooled.append(out.sum(dim=1))
        return torch.cat(pooled, dim=1)
