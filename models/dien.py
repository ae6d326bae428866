"""DIEN (Zhou et al., 2019): an interest extractor GRU trained with an auxiliary next-behavior
loss, then an interest evolving GRU steered by attention toward the candidate."""

from __future__ import annotations

import torch
from torch import nn

from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS
from models.history_model import HISTORY_NEEDS, HistoryModel, behavior_dim, history_space
from models.layers.sequence.attention_gru import AttentionGRU
from models.layers.sequence.behavior import masked_softmax
from models.layers.sequence.next_behavior import NextBehaviorLoss
from models.spec import DataSpec


class DIEN(HistoryModel):
    """h_t = GRU(e_1..e_t); a_t = softmax over real steps of h_t W e_a; v_U = the final state of
    the evolving GRU (AIGRU / AGRU / AUGRU) over h_1..h_T. In training, ``aux_weight`` times the
    next-behavior loss on h_t joins ``aux_loss()``."""

    def __init__(self, spec: DataSpec, params: dict):
        dim, hidden = behavior_dim(spec, params), params["gru_hidden"]
        super().__init__(spec, params, hidden)
        self.extractor = AttentionGRU(dim, hidden, "gru")
        self.query = nn.Linear(dim, hidden, bias=False)           # W in h_t W e_a
        self.evolving = AttentionGRU(hidden, hidden, params["evolving"])
        self.aux_weight = params["aux_weight"]
        self.next_behavior = NextBehaviorLoss(hidden, dim) if self.aux_weight > 0 else None
        self.next_loss: torch.Tensor | None = None

    def interest(self, candidate, steps, mask, batch):
        states, _ = self.extractor(steps, mask)
        if self.training and self.next_behavior is not None:
            loss = self.next_behavior(states, steps, mask)
            self.next_loss = None if loss is None else self.aux_weight * loss
        attention = masked_softmax((states * self.query(candidate).unsqueeze(1)).sum(-1), mask)
        _, final = self.evolving(states, mask, attention)
        return final, attention

    def aux_loss(self):
        terms = [term for term in (super().aux_loss(), self.next_loss) if term is not None]
        self.next_loss = None
        return sum(terms) if terms else None


def dien_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        **history_space(t, spec),
        "evolving": t.categorical("evolving", ["augru", "agru", "aigru"]),
        "aux_weight": t.categorical("aux_weight", [1.0, 0.5, 0.0]),
        "gru_hidden": t.categorical("gru_hidden", [16, 32, 64]),
    }


DIEN_CARD = ModelCard(
    "dien", "DIEN (Zhou et al., 2019)", "behavior sequence",
    search_space=dien_space, build=DIEN, **HISTORY_NEEDS,
    defaults={**COMMON_DEFAULTS, "embed_dim": 16, "hidden": "200-80", "dropout": 0.0, "batch_norm": False,
              "evolving": "augru", "aux_weight": 1.0, "gru_hidden": 32},
    key_options=("evolving", "aux_weight", "gru_hidden", "embed_dim"),
)
