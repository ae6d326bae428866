"""DeepFM (Guo et al., 2017): an FM and a DNN sharing one embedding table."""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, field_inputs
from models.card import ModelCard
from models.common import (
    COMMON_DEFAULTS,
    GATE_DEFAULTS,
    common_space,
    gate_space,
    hidden_sizes,
    mlp_space,
    pair_gates,
)
from models.layers.blocks.mlp import MLP
from models.layers.blocks.stacking import stack
from models.layers.interactions.fm import fm_interaction, fm_pair_views
from models.layers.interactions.gates import gate_matrix
from models.layers.interactions.pairs import n_pairs
from models.spec import DataSpec


class DeepFM(RecModel):
    """y = linear + FM(e) + DNN(concat(e, num)); the FM sees categorical (and, when
    ``numeric_mode`` bucketizes, bucketized numeric) fields; raw numerics go to the DNN only. With
    ``pair_gates`` "gated" the FM part's pairs are gated (``FactorizationMachine``); the DNN is not."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params, linear=True)
        self.linear, self.embedding, self.use_raw = inputs.linear, inputs.embedding, inputs.use_raw
        self.dnn = MLP(inputs.width, hidden_sizes(params["hidden"]), params["dropout"], params["batch_norm"])
        self.head = nn.Linear(self.dnn.out_dim, 1, bias=False)
        self.gates = pair_gates(params, n_pairs(self.embedding.n_fields))

    def parts(self, batch, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """emb [B, F, k] -> (wide logit [B]: linear (with the bias) + FM term, deep logit [B]: the DNN's)."""
        wide = self.linear(batch) + fm_interaction(emb, gate_matrix(self.gates, emb.shape[1]))
        return wide, self.head(self.dnn(stack(emb, batch, self.use_raw))).squeeze(1)

    def forward(self, batch):
        wide, deep = self.parts(batch, self.embedding(batch))
        return wide + deep

    def interactions(self, batch):
        """``pairs:fm`` [F, F] of the FM part only (and ``pairs:gates`` when gated, as
        ``FactorizationMachine``'s; the DNN's pairs are seen only by model-agnostic measures),
        ``wide_logit`` and ``deep_logit`` [B] from ``parts``."""
        emb = self.embedding(batch)
        wide, deep = self.parts(batch, emb)
        return {**fm_pair_views(emb, self.gates), "wide_logit": wide, "deep_logit": deep}


DEEPFM_CARD = ModelCard(
    "deepfm", "DeepFM (Guo et al., 2017)", "deep crossing",
    build=DeepFM,
    search_space=lambda t, spec: {**common_space(t, spec), **mlp_space(t), **gate_space(t)},
    defaults={**COMMON_DEFAULTS, **GATE_DEFAULTS, "embed_dim": 10, "hidden": "400-400-400", "dropout": 0.5,
              "batch_norm": False},
    key_options=("embed_dim", "hidden", "dropout", "numeric_mode", "pair_gates"),
)
