"""The base class of every neural model."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.spec import DataSpec


class RecModel(nn.Module):
    """``forward(batch) -> [B]``: logits for ``ctr``, ratings for ``rating``.

    Two optional hooks, both read by ``automl.train`` and ``automl.diagnostics``:
    ``aux_loss()`` returns extra training loss terms of the last forward pass (embedding L2 by
    default); ``interactions(batch)`` returns named interaction terms for diagnostics
    (e.g. ``"pair_strength"`` [F, F]); ``parameter_groups()`` splits parameters between
    optimizers (e.g. Wide & Deep's wide part), default one group ``"main"``.
    """

    def aux_loss(self) -> torch.Tensor | None:
        if not hasattr(self, "_penalized"):
            self._penalized = [m for m in self.modules() if hasattr(m, "penalty") and getattr(m, "l2", 0) > 0]
        terms = [m.penalty for m in self._penalized if m.penalty is not None]
        return sum(terms) if terms else None

    def interactions(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"main": list(self.parameters())}


def output_bias(spec: DataSpec) -> float:
    """A starting bias that predicts the training mean: logit(rate) for ctr, the mean rating."""
    if spec.task == "ctr":
        p = min(max(spec.label_mean, 1e-4), 1 - 1e-4)
        return math.log(p / (1 - p))
    return spec.label_mean


def numeric_inputs(params: dict) -> tuple[bool, bool]:
    """(use bucketized numeric fields, use raw numeric values) from ``numeric_mode``."""
    mode = params.get("numeric_mode", "raw")
    return mode in ("bucketize", "both"), mode in ("raw", "both")
