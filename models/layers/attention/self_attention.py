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
        batch, n_fields, _ = emb.shape
        q, k, v = self.qkv(emb).view(batch, n_fields, 3, self.heads, self.attention_dim).permute(2, 0, 3, 1, 4)
        attention = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        out = (attention @ v).transpose(1, 2).reshape(batch, n_fields, self.out_dim)
        if self.residual is not None:
            out = out + self.residual(emb)
        return torch.relu(out), attention
