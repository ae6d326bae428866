"""Learned per-pair gates (the AutoFIS idea): a weight per field pair that scales the pair's
interaction term, pushed toward 0 by an L1 penalty so that pairs the data does not need drop out."""

from __future__ import annotations

import torch
from torch import nn

from models.layers.interactions.pairs import pair_index, pair_matrix
from models.layers.penalty import Penalized


class PairGates(Penalized):
    """Gates α [P], one per field pair, starting at 1 (the ungated model).

    ``n_pairs``: the pairs of the caller's own list (Wide & Deep's crosses), or F(F-1)/2 in ``pairs``
    order for ``matrix`` (what ``fm.bi_interaction`` reads). With ``l1 > 0`` every training call
    leaves ``penalty`` = l1 * sum_p |α_p| (per batch: the loss is a batch mean); an eval call never
    sets it.
    """

    def __init__(self, n_pairs: int, l1: float = 0.0):
        super().__init__()
        self.l1 = l1
        self.alpha = nn.Parameter(torch.ones(n_pairs))

    def gates(self) -> torch.Tensor:
        """α [P], leaving the L1 penalty in training mode."""
        if self.l1 > 0 and self.training:
            self.penalty = self.l1 * self.alpha.abs().sum()
        return self.alpha

    def forward(self, terms: torch.Tensor) -> torch.Tensor:
        """[B, P] or [B, P, k] per-pair terms -> the same, pair p times α_p."""
        alpha = self.gates()
        return terms * (alpha if terms.dim() == 2 else alpha.unsqueeze(-1))

    def matrix(self, n_fields: int) -> torch.Tensor:
        """A [F, F]: α_ij at (i, j) and (j, i), zero diagonal (``pairs`` order, P = F(F-1)/2); one
        out-of-place scatter, which an ONNX export keeps."""
        alpha = self.gates()
        rows, cols = pair_index(n_fields, alpha.device)
        upper = alpha.new_zeros(n_fields * n_fields).scatter(0, rows * n_fields + cols, alpha)
        upper = upper.view(n_fields, n_fields)
        return upper + upper.T

    def strength(self, n_fields: int, index: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """[F, F] |α| of each pair (``index``: the pairs' fields, default ``pairs`` order), zero
        elsewhere: the ``pairs:gates`` diagnostic."""
        return pair_matrix(self.alpha.detach().abs(), n_fields, index)


def gate_matrix(gates: PairGates | None, n_fields: int) -> torch.Tensor | None:
    """``gates.matrix(n_fields)`` [F, F], or None without gates (every pair weighs 1)."""
    return None if gates is None else gates.matrix(n_fields)
