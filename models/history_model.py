"""What DIN, DIEN and BST share: field embeddings, an interest vector pooled from the behavior
history (each model's own part), and the MLP over both."""

from __future__ import annotations

import torch

from models.base import RecModel, field_inputs, output_bias
from models.card import ScopedTrial
from models.common import HIDDEN_CHOICES, common_space, hidden_sizes, mlp_space
from models.layers.blocks.head import score_head
from models.layers.blocks.mlp import MLP
from models.layers.blocks.stacking import stack
from models.layers.sequence.behavior import behavior_vectors, history_mask, normalized_weights
from models.spec import DataSpec

# what the behavior-sequence cards share: labeled rows and a behavior history
HISTORY_NEEDS = {"tasks": frozenset({"ctr", "rating"}), "requires": frozenset({"fields", "history"})}


class HistoryModel(RecModel):
    """y = head(MLP(concat(e_1..e_F, num, v_U))): every field embedding (user profile, context and
    the candidate's id and item-side attributes), raw numerics (by ``numeric_mode``) and the
    interest vector v_U [B, interest_dim] from ``interest``. The MLP's activation is the model's
    ``activation`` option where it has one (DIN: Dice, as in the paper's final MLP), else PReLU."""

    def __init__(self, spec: DataSpec, params: dict, interest_dim: int):
        super().__init__()
        inputs = field_inputs(spec, params)
        self.history = spec.history
        self.embedding, self.use_raw = inputs.embedding, inputs.use_raw
        self.dnn = MLP(inputs.width + interest_dim, hidden_sizes(params["hidden"]), params["dropout"], params["batch_norm"],
                       activation=params.get("activation", "prelu"))
        self.head = score_head(self.dnn.out_dim, output_bias(spec))

    def interest(self, candidate: torch.Tensor, steps: torch.Tensor, mask: torch.Tensor, batch: dict
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """candidate [B, d], steps [B, L, d], mask [B, L] -> (v_U [B, interest_dim], weights [B, L]
        of the steps for the candidate, not necessarily normalized)."""
        raise NotImplementedError

    def pooled(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.interest(*behavior_vectors(self.embedding, batch, self.history), batch)

    def forward(self, batch):
        interest, _ = self.pooled(batch)
        x = torch.cat([stack(self.embedding(batch), batch, self.use_raw), interest], dim=1)
        return self.head(self.dnn(x)).squeeze(1)

    def interactions(self, batch):
        """``history_attention`` [B, L]: the ``interest`` weights w of the steps, |w| / sum |w| over
        each row's real steps (DIN's unnormalized activation-unit weights, BST's candidate attention
        less its share on the candidate itself; DIEN's softmax is unchanged)."""
        weights = self.pooled(batch)[1]
        return {"history_attention": normalized_weights(weights, history_mask(batch["hist_len"], weights.shape[1]))}


def behavior_dim(spec: DataSpec, params: dict) -> int:
    """The width of one behavior vector: embed_dim per history attribute."""
    return params["embed_dim"] * len(spec.history.field_index)


def history_space(t: ScopedTrial, spec: DataSpec) -> dict:
    """The common options and the MLP's, whose widths include the DIN/DIEN papers' 200-80."""
    return {**common_space(t, spec), **mlp_space(t, ["200-80", *HIDDEN_CHOICES])}
