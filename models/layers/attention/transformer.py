"""One Transformer encoder block over a padded token sequence (BST, Chen et al., 2019)."""

from __future__ import annotations

import torch
from torch import nn


class TransformerBlock(nn.Module):
    """tokens [B, T, d], padding [B, T] bool (True = padding) -> (out [B, T, d], attention
    [B, T, T] averaged over heads). h = LN(x + Dropout(MHA(x))), out = LN(h + Dropout(FFN(h))),
    FFN = Linear(d, 4d) -> LeakyReLU -> Linear(4d, d). Padded tokens are never attended to."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.LeakyReLU(), nn.Linear(4 * dim, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.attention(tokens, tokens, tokens, key_padding_mask=padding)
        h = self.norm1(tokens + self.dropout(attended))
        return self.norm2(h + self.dropout(self.ffn(h))), weights
