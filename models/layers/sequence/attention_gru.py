"""GRUs over a padded behavior history, optionally steered by attention (DIEN, Zhou et al., 2019)."""

from __future__ import annotations

import torch
from torch import nn

MODES = ("gru", "aigru", "agru", "augru")


class AttentionGRU(nn.Module):
    """x [B, L, d_in], mask [B, L], attention a [B, L] (not for ``gru``) -> (states [B, L, H],
    final state [B, H]). Padded steps leave the state unchanged (their states are 0), so the final
    state is the one at each row's true last step (0 for an empty history).

    Gates (paper convention): u_t = sigmoid(W_u x_t + U_u h_{t-1} + b_u), r_t likewise,
    h~_t = tanh(W_h x_t + r_t ∘ (U_h h_{t-1}) + b_h), and
    ``gru``:   h_t = (1 - u_t) ∘ h_{t-1} + u_t ∘ h~_t
    ``aigru``: the same with inputs a_t x_t
    ``agru``:  h_t = (1 - a_t) h_{t-1} + a_t h~_t            (attention replaces the update gate)
    ``augru``: h_t = (1 - a_t u_t) ∘ h_{t-1} + a_t u_t ∘ h~_t
    """

    def __init__(self, in_dim: int, hidden: int, mode: str = "gru"):
        super().__init__()
        self.mode, self.hidden = mode, hidden
        self.x_proj = nn.Linear(in_dim, 3 * hidden)               # [update, reset, candidate]
        self.h_proj = nn.Linear(hidden, 3 * hidden, bias=False)

    def step(self, x_proj: torch.Tensor, h: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
        """One update: x_proj [B, 3H] (the projected input), h [B, H], a [B, 1] -> h_t [B, H]."""
        xu, xr, xh = x_proj.chunk(3, dim=1)
        hu, hr, hh = self.h_proj(h).chunk(3, dim=1)
        u, r = torch.sigmoid(xu + hu), torch.sigmoid(xr + hr)
        candidate = torch.tanh(xh + r * hh)
        if self.mode == "agru":
            u = a.expand_as(u)
        elif self.mode == "augru":
            u = a * u
        return (1 - u) * h + u * candidate

    def forward(self, x: torch.Tensor, mask: torch.Tensor, attention: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mode == "aigru":
            x = x * attention.unsqueeze(-1)
        projected = self.x_proj(x)                                 # every step in one matmul
        h, states = x.new_zeros(x.shape[0], self.hidden), []
        steps = int(mask.sum(1).max()) if mask.numel() else 0      # steps past the longest are padding
        # one split into steps up front: indexing projected[:, t] in the loop would make autograd fill a
        # zero tensor the size of the whole sequence for every step's gradient
        inputs, keeps = projected[:, :steps].unbind(1), mask[:, :steps].unsqueeze(2).unbind(1)
        weights = attention[:, :steps].unsqueeze(2).unbind(1) if attention is not None else [None] * steps
        for x_t, keep, a in zip(inputs, keeps, weights, strict=True):
            h = torch.where(keep, self.step(x_t, h, a), h)
            states.append(h * keep)
        stacked = torch.stack(states, 1) if states else x.new_zeros(x.shape[0], 0, self.hidden)
        return nn.functional.pad(stacked, (0, 0, 0, x.shape[1] - len(states))), h
