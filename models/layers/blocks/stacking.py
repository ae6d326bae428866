"""Deep Crossing's stacking layer: the dense input of every DNN part."""

from __future__ import annotations

import torch


def stack(emb: torch.Tensor, batch: dict[str, torch.Tensor], use_raw: bool) -> torch.Tensor:
    """[B, F, k] field embeddings (+ ``batch["num"]`` [B, D] when ``use_raw``) -> [B, F k (+ D)]."""
    flat = emb.flatten(1)
    return torch.cat([flat, batch["num"]], dim=1) if use_raw else flat


def stacked_dim(n_fields: int, dim: int, n_numeric: int, use_raw: bool) -> int:
    """The width of ``stack``'s output."""
    return n_fields * dim + (n_numeric if use_raw else 0)
