"""The behavior history as vectors: each item (candidate or past step) is the concat of its id
and item-side attribute embeddings, looked up in the model's FieldEmbedding table so that the
history and the candidate share embeddings."""

from __future__ import annotations

import torch

from models.layers.embeddings.embedding import FieldEmbedding
from models.spec import HistoryInfo


def history_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """lengths [B] -> bool [B, max_len], True at the real (left-aligned) steps."""
    return torch.arange(max_len, device=lengths.device) < lengths.unsqueeze(1)


def behavior_vectors(embedding: FieldEmbedding, batch: dict[str, torch.Tensor], history: HistoryInfo
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> (candidate [B, A k], steps [B, L, A k], mask [B, L]) for A = len(history.field_index).

    The mask comes from ``hist_len`` (a past item unseen in training has code 0 and still counts).
    Padded steps hold the vectors of code 0; every consumer must honour the mask.
    """
    index = list(history.field_index)
    candidate = embedding.lookup(batch["cat"][:, index], index).flatten(1)
    ids = torch.stack([batch[f"hist{a}"] for a in range(len(index))], dim=-1)      # [B, L, A]
    steps = embedding.lookup(ids, index).flatten(2)
    return candidate, steps, history_mask(batch["hist_len"], ids.shape[1])


def normalized_weights(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """weights [B, L], mask [B, L] -> |w| / sum |w| over each row's real steps, 0 at padding
    (all 0 for a row without real steps or weight)."""
    magnitude = weights.abs() * mask
    return magnitude / magnitude.sum(1, keepdim=True).clamp(min=torch.finfo(magnitude.dtype).tiny)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """scores [B, L], mask [B, L] -> softmax over the real steps, 0 at padding (all 0 for an
    empty history; finite gradients either way)."""
    return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1) * mask
