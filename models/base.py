"""The base class of every neural model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from models.layers.blocks.stacking import stacked_dim
from models.layers.embeddings.embedding import FieldEmbedding, FirstOrder
from models.layers.embeddings.vocabulary import Vocabulary
from models.layers.penalty import Penalized
from models.spec import DataSpec


class RecModel(nn.Module):
    """``forward(batch) -> [B]``: logits for ``ctr`` and ``implicit``, ratings for ``rating``.

    Optional hooks: ``aux_loss()`` returns extra training loss terms of the last forward pass
    (embedding L2 by default); ``interactions(batch)`` returns the model's own view of its
    interactions for diagnostics (see there); ``parameter_groups()`` splits parameters
    between optimizers (e.g. Wide & Deep's wide part), default one group ``"main"``.

    Training hooks for models that do not learn from one labeled row at a time (read by
    ``automl.training``): ``training_data(rows)`` turns the training rows into what an epoch
    iterates over (AutoRec: one entry per rating-matrix row); ``training_loss(batch, loss_fn)``
    is the loss of one such batch (two-tower: in-batch softmax); ``notes(batch)`` gives numbers
    about the predictions on a split worth recording (AutoRec: fallbacks to the global mean).
    ``in_batch_negatives = True`` asks the implicit task for positives only (the model makes
    its own negatives from the batch).

    Scoring many items at once (the idea of RecBole's ``full_sort_predict``): a model with
    ``scores_items_in_bulk = True`` embeds every item once with ``item_vectors`` and scores
    user rows against candidate lists with ``score_items``; any other model is scored on one
    (user, item) row per candidate.
    """

    in_batch_negatives = False
    scores_items_in_bulk = False

    def item_vectors(self, item_codes: torch.Tensor) -> torch.Tensor:
        """int64 [I, c] item-side codes of every item -> [I, d] item vectors."""
        raise NotImplementedError(f"{type(self).__name__} scores (user, item) rows one at a time")

    def score_items(self, rows: dict[str, torch.Tensor], vectors: torch.Tensor,
                    candidates: torch.Tensor) -> torch.Tensor:
        """User rows (batch dict of U rows), ``item_vectors`` [I, d], candidates [U, C] item codes -> [U, C]."""
        raise NotImplementedError(f"{type(self).__name__} scores (user, item) rows one at a time")

    def training_data(self, rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return rows

    def training_loss(self, batch: dict[str, torch.Tensor], loss_fn) -> torch.Tensor:
        return loss_fn(self(batch), batch["label"])

    def notes(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return {}

    def aux_loss(self) -> torch.Tensor | None:
        """The sum of the pending penalties of the model's ``Penalized`` layers (None without one)."""
        terms = [m.penalty for m in self.modules() if isinstance(m, Penalized) and m.penalty is not None]
        return sum(terms) if terms else None


    def interaction_names(self) -> list[str]:
        """The schema column of each row / column of the ``pairs:*`` matrices of ``interactions``
        (default: ``embedding.names``; [] for a model without a ``FieldEmbedding``)."""
        embedding = getattr(self, "embedding", None)
        return list(embedding.names) if isinstance(embedding, FieldEmbedding) else []

    def interactions(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The model's own interaction terms on ``batch`` (B rows), any of (default none):

        - ``"pairs:<method>"`` [F, F] float, F = ``len(interaction_names())``: symmetric,
          non-negative, zero diagonal; entry (i, j) the strength of that pair in the model's own
          mechanism (``<method>``, see each model), comparable across pairs of one model only.
        - ``"history_attention"`` [B, L]: the weight of each ``hist*`` step (same order: oldest
          first, left-aligned) for the candidate; >= 0, each row summing to 1 over its real steps
          (all 0 without history), 0 at padding.
        - ``"wide_logit"``, ``"deep_logit"`` [B]: the two parts whose sum is ``forward(batch)``.

        Called after ``eval()`` under ``torch.no_grad()``; it changes no buffer and no pending
        penalty or auxiliary loss (modules set those only in training mode).
        """
        return {}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"main": list(self.parameters())}


def output_bias(spec: DataSpec) -> float:
    """A starting bias that predicts the training mean: logit(rate) for ctr and implicit, the mean rating."""
    if spec.task in ("ctr", "implicit"):
        p = min(max(spec.label_mean, 1e-4), 1 - 1e-4)
        return math.log(p / (1 - p))
    return spec.label_mean


def numeric_inputs(params: dict) -> tuple[bool, bool]:
    """(use bucketized numeric fields, use raw numeric values) from ``numeric_mode``."""
    mode = params.get("numeric_mode", "raw")
    return mode in ("bucketize", "both"), mode in ("raw", "both")


@dataclass
class FieldInputs:
    """``embedding``: batch -> [B, F, k]; ``linear``: batch -> [B] (None unless asked for);
    ``use_raw``: raw numerics enter the model; ``width``: the width of stack(e, num)."""

    embedding: FieldEmbedding
    linear: FirstOrder | None
    use_raw: bool
    width: int


def field_inputs(spec: DataSpec, params: dict, linear: bool = False) -> FieldInputs:
    """The field embedding (``embed_dim``, ``l2``) and, with ``linear``, the first-order term
    starting at ``output_bias``; both read the numeric columns as ``numeric_mode`` says."""
    use_buckets, use_raw = numeric_inputs(params)
    vocab = Vocabulary.of(params)
    first = FirstOrder(spec, use_buckets, use_raw, output_bias(spec), vocab) if linear else None
    dim = params["embed_dim"]
    embedding = FieldEmbedding(spec, dim, use_buckets, params.get("l2", 0.0), vocab)
    return FieldInputs(embedding, first, use_raw, stacked_dim(embedding.n_fields, dim, len(spec.numeric), use_raw))
