"""DIN's local activation unit: how much each past behavior matters for the candidate."""

from __future__ import annotations

import torch
from torch import nn

from models.layers.blocks.dice import Dice
from models.layers.sequence.behavior import masked_softmax

INTERACTIONS = ("product+difference", "outer", "product", "difference")


def interaction_terms(steps: torch.Tensor, candidate: torch.Tensor, kind: str) -> list[torch.Tensor]:
    """f(e_j, e_a) for [N, d] pairs: ``outer`` vec(e_j e_a^T) [N, d d]; ``product`` e_j ⊙ e_a;
    ``difference`` e_j - e_a; ``product+difference`` both (the authors' code)."""
    if kind == "outer":
        return [torch.einsum("ni,nj->nij", steps, candidate).flatten(1)]
    terms = []
    if "product" in kind:
        terms.append(steps * candidate)
    if "difference" in kind:
        terms.append(steps - candidate)
    return terms


def interaction_width(dim: int, kind: str) -> int:
    return dim * dim if kind == "outer" else dim * len(kind.split("+"))


class ActivationUnit(nn.Module):
    """steps [B, L, d], candidate [B, d], mask [B, L] -> weights [B, L] (0 at padding):
    w_j = MLP(concat(e_j, e_a, f(e_j, e_a))), the MLP's hidden layers activated by Dice or PReLU.

    Only the real steps are scored, so padding never enters the Dice statistics. ``normalization``
    ``none`` keeps the raw weights (the paper: the intensity of interest survives), ``softmax``
    normalizes them over the real steps.
    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (80, 40), interaction: str = "product+difference",
                 activation: str = "dice", normalization: str = "none"):
        super().__init__()
        self.interaction, self.normalization = interaction, normalization
        layers: list[nn.Module] = []
        width = 2 * dim + interaction_width(dim, interaction)
        for size in hidden:
            layers += [nn.Linear(width, size), Dice(size) if activation == "dice" else nn.PReLU(size)]
            width = size
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, steps: torch.Tensor, candidate: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e_j = steps[mask]
        e_a = candidate.unsqueeze(1).expand_as(steps)[mask]
        scores = self.net(torch.cat([e_j, e_a, *interaction_terms(e_j, e_a, self.interaction)], dim=1))
        weights = steps.new_zeros(mask.shape).masked_scatter(mask, scores.squeeze(1).to(steps.dtype))
        return masked_softmax(weights, mask) if self.normalization == "softmax" else weights
