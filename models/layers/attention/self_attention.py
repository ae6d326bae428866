"""AutoInt's interacting layer: multi-head self-attention over fields (Song et al., 2019)."""

from __future__ import annotations

import torch
from torch import nn


class InteractingLayer(nn.Module):
    """[B, F, d_in] -> (out [B, F, H d'], attention [B, H, F, F]).

    Per head h: Q = E W_Q^h, K = E W_K^h, V = E W_V^h (each [B, F, d']);
    a^h_{mk} = softmax over k of <Q_m, K_k>; head_m = sum_k a^h_{mk} V_k.
    out = ReLU(concat_h head + E W_res) (without ``residual``: ReLU(concat_h head)).
    """

    def __init__(self, in_dim: int, attention_dim: int, heads: int, residual: bool = True):
        super().__init__()
        self.heads, self.attention_dim = heads, attention_dim
        self.qkv = nn.Linear(in_dim, 3 * heads * attention_dim, bias=False)
        self.residual = nn.Linear(in_dim, heads * attention_dim, bias=False) if residual else None
        self.out_dim = heads * attention_dim

    def forward(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """With ``residual``, Q, K, V and E W_res come out of one product (the weights stacked)."""
        batch, n_fields, _ = emb.shape
        if self.residual is None:
            qkv = self.qkv(emb)                                                      # [B, F, 3 H d']
        else:
            stacked = torch.cat([self.qkv.weight, self.residual.weight])
            qkv, residual = nn.functional.linear(emb, stacked).split([3 * self.out_dim, self.out_dim], dim=-1)
        q, k, v = qkv.view(batch, n_fields, 3, self.heads, self.attention_dim).permute(2, 0, 3, 1, 4)
        attention = torch.softmax(q @ k.transpose(-1, -2), dim=-1)                  # [B, H, F, F]
        out = (attention @ v).transpose(1, 2).reshape(batch, n_fields, self.out_dim)
        return torch.relu(out if self.residual is None else out + residual), attention
