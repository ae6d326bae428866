"""AutoInt (Song et al., 2019): multi-head self-attention over fields; AutoInt+ adds a DNN."""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, field_inputs, output_bias
from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS, common_space, hidden_sizes, mlp_space
from models.layers.attention.self_attention import InteractingLayer
from models.layers.blocks.head import score_head
from models.layers.blocks.mlp import MLP
from models.layers.blocks.stacking import stack
from models.layers.interactions.pairs import symmetric_pairs
from models.spec import DataSpec


class AutoInt(RecModel):
    """score(concat(flatten(interacting layers(e)), side)): ``side`` is the DNN over stack(e, num)
    (AutoInt+) or, without the DNN, the raw numerics themselves (a linear term)."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params)
        self.embedding, self.use_raw = inputs.embedding, inputs.use_raw
        self.attention = nn.ModuleList()
        width = params["embed_dim"]
        for _ in range(params["attention_layers"]):
            self.attention.append(InteractingLayer(width, params["attention_dim"], params["heads"], params["residual"]))
            width = self.attention[-1].out_dim
        self.dnn = None
        side = len(spec.numeric) if self.use_raw else 0
        if params["dnn"]:
            self.dnn = MLP(inputs.width, hidden_sizes(params["hidden"]), params["dropout"], params["batch_norm"])
            side = self.dnn.out_dim
        self.head = score_head(self.embedding.n_fields * width + side, output_bias(spec))

    def attend(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, F, k] -> (last layer's output [B, F, H d'], first layer's attention [B, H, F, F])."""
        x, maps = emb, []
        for layer in self.attention:
            x, attention = layer(x)
            maps.append(attention)
        return x, maps[0]

    def forward(self, batch):
        emb = self.embedding(batch)
        parts = [self.attend(emb)[0].flatten(1)]
        if self.dnn is not None:
            parts.append(self.dnn(stack(emb, batch, self.use_raw)))
        elif self.use_raw:
            parts.append(batch["num"])
        return self.head(torch.cat(parts, dim=1)).squeeze(1)

    def interactions(self, batch):
        """``pairs:attention`` [F, F]: the first layer's attention A (where every position is still
        one field's own embedding) averaged over heads and rows, (A + A^T) / 2, zero diagonal."""
        return {"pairs:attention": symmetric_pairs(self.attend(self.embedding(batch))[1].mean(dim=(0, 1)))}


def autoint_space(t: ScopedTrial, spec: DataSpec) -> dict:
    params = {
        **common_space(t, spec),
        "attention_layers": t.int("attention_layers", 1, 4),
        "heads": t.int("heads", 1, 4),
        "attention_dim": t.categorical("attention_dim", [8, 16, 32, 64]),
        "residual": t.categorical("residual", [True, False]),
        "dnn": t.categorical("dnn", [False, True]),
    }
    if params["dnn"]:
        params.update(mlp_space(t))
    return params


AUTOINT_CARD = ModelCard(
    "autoint", "AutoInt (Song et al., 2019)", "deep crossing",
    search_space=autoint_space, build=AutoInt,
    defaults={**COMMON_DEFAULTS, "embed_dim": 16, "attention_layers": 3, "heads": 2, "attention_dim": 32,
              "residual": True, "dnn": False},
    key_options=("attention_layers", "heads", "attention_dim", "dnn"),
)
