"""AutoInt's interacting layer: multi-head self-attention over fields (Song et al., 2019)."""

from __future__ import annotations

import torch
from torch import nn


class InteractingLayer(nn.Module):
    """[B, F, d_in] -> (out [B, F, H d'], attention [B, H, F, F]).

    Per head h: Q = E W_Q^h, K = E W_K^h, V = E W_V^h (each [B, F, d']);
    a^h_{mk} = softmax over k of <Q_m, K_k>; head_m = sum_k a^h_{mk} V_k.
    out = ReLU(concat_h head + E W_res) (without ``residual``: ReLU(concat_h head)).

    Two exact ways to compute it, picked by cost (the parameters are the same):
    - ``bilinear`` (d_in <= 2 d'): <Q_m, K_k> = E_m (W_Q^h W_K^hT) E_k^T and
      head_m = (sum_k a^h_{mk} E_k) W_V^h, so every batched product has the heads on its left side only
      ([B, F H, d_in] by [B, d_in, F]) and nothing is permuted; its products grow with d_in, not d'.
    - explicit: Q, K, V per head, permuted to [B, H, F, d'] (cheaper when d_in is several times d').
    """

    def __init__(self, in_dim: int, attention_dim: int, heads: int, residual: bool = True):
        super().__init__()
        self.heads, self.attention_dim = heads, attention_dim
        self.qkv = nn.Linear(in_dim, 3 * heads * attention_dim, bias=False)
        self.residual = nn.Linear(in_dim, heads * attention_dim, bias=False) if residual else None
        self.out_dim = heads * attention_dim
        self.bilinear = in_dim <= 2 * attention_dim

    def forward(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """With ``residual``, the attention's projection and E W_res come out of one product (the
        weights stacked)."""
        batch, n_fields, in_dim = emb.shape
        heads = self.heads
        if self.bilinear:
            wq, wk, wv = self.qkv.weight.view(3, heads, self.attention_dim, in_dim).unbind(0)  # [H, d', d_in]
            projection = (wk.transpose(1, 2) @ wq).reshape(heads * in_dim, in_dim)  # block h: (W_Q^h W_K^hT)^T
        else:
            projection = self.qkv.weight
        width = projection.shape[0]
        if self.residual is not None:
            projection = torch.cat([projection, self.residual.weight])
        projected = nn.functional.linear(emb, projection)
        left, residual = projected.split([width, projected.shape[-1] - width], dim=-1)
        if self.bilinear:
            scores = left.reshape(batch, n_fields * heads, in_dim) @ emb.transpose(1, 2)  # [B, F H, F]
            attention = torch.softmax(scores, dim=-1)
            pooled = (attention @ emb).view(batch * n_fields, heads * in_dim)              # [B F, H d_in]
            out = (pooled @ block_diagonal(wv.transpose(1, 2))).view(batch, n_fields, self.out_dim)
            attention = attention.view(batch, n_fields, heads, n_fields).transpose(1, 2)
        else:
            q, k, v = left.reshape(batch, n_fields, 3, heads, self.attention_dim).permute(2, 0, 3, 1, 4)
            attention = torch.softmax(q @ k.transpose(-1, -2), dim=-1)              # [B, H, F, F]
            out = (attention @ v).transpose(1, 2).reshape(batch, n_fields, self.out_dim)
        return torch.relu(out if self.residual is None else out + residual), attention


def block_diagonal(blocks: torch.Tensor) -> torch.Tensor:
    """[H, r, c] -> [H r, H c] with block h on the diagonal (``torch.block_diag`` has no ONNX export)."""
    heads, rows, cols = blocks.shape
    eye = torch.eye(heads, dtype=blocks.dtype, device=blocks.device)
    return (eye[:, None, :, None] * blocks[:, :, None, :]).reshape(heads * rows, heads * cols)
