"""xDeepFM (Lian et al., 2018): linear part, CIN and DNN side by side."""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, field_inputs
from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS, common_space, hidden_sizes, mlp_space
from models.layers.blocks.mlp import MLP
from models.layers.blocks.stacking import stack
from models.layers.interactions.cin import CIN
from models.spec import DataSpec

CIN_CHOICES = ["100-100", "100-100-100", "128-128", "200-200", "200-200-200"]


class XDeepFM(RecModel):
    """y = linear + w^T [CIN(e), DNN(stack(e, num))]: explicit vector-wise crossing (CIN) next to
    implicit bit-wise crossing (DNN). Raw numerics enter the linear part and the DNN."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params, linear=True)
        self.linear, self.embedding, self.use_raw = inputs.linear, inputs.embedding, inputs.use_raw
        self.cin = CIN(self.embedding.n_fields, hidden_sizes(params["cin_layers"]), params["split_half"])
        self.dnn = MLP(inputs.width, hidden_sizes(params["hidden"]), params["dropout"], params["batch_norm"])
        self.head = nn.Linear(self.cin.out_dim + self.dnn.out_dim, 1, bias=False)

    def forward(self, batch):
        emb = self.embedding(batch)
        deep = torch.cat([self.cin(emb), self.dnn(stack(emb, batch, self.use_raw))], dim=1)
        return self.linear(batch) + self.head(deep).squeeze(1)


def xdeepfm_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        **common_space(t, spec),
        **mlp_space(t),
        "cin_layers": t.categorical("cin_layers", CIN_CHOICES),
        "split_half": t.categorical("split_half", [True, False]),
    }


XDEEPFM_CARD = ModelCard(
    "xdeepfm", "xDeepFM (Lian et al., 2018)", "deep crossing",
    search_space=xdeepfm_space, build=XDeepFM,
    # the paper's: Adam at lr 0.001, L2 0.0001 on the embeddings and on the network's weights
    defaults={**COMMON_DEFAULTS, "embed_dim": 10, "lr": 1e-3, "l2": 1e-4, "weight_decay": 1e-4, "batch_size": 4096,
              "hidden": "400-400-400", "dropout": 0.0, "batch_norm": False, "cin_layers": "200-200-200",
              "split_half": True},
    key_options=("cin_layers", "split_half", "hidden"),
)
