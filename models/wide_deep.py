"""Wide & Deep (Cheng et al., 2016): a linear model over raw and crossed features (memorization)
plus an embedding MLP (generalization), trained jointly with separate optimizers."""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, field_inputs
from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS, common_space, hidden_sizes, mlp_space
from models.layers.blocks.mlp import MLP
from models.layers.blocks.stacking import stack
from models.layers.interactions.cross_product import CrossProductWeights
from models.spec import DataSpec

MAX_AUTO_CROSSES = 10


def chosen_pairs(spec: DataSpec, params: dict) -> list[tuple[int, int]]:
    """The user's field pairs, or the top ``n_crosses`` pairs ranked on the training split."""
    if params.get("cross_source") == "user":
        return list(spec.user_pairs)
    return list(spec.ranked_pairs[: params.get("n_crosses", 0)])


class WideDeep(RecModel):
    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params, linear=True)
        self.wide, self.embedding, self.use_raw = inputs.linear, inputs.embedding, inputs.use_raw
        self.crosses = CrossProductWeights([f.cardinality for f in spec.fields], chosen_pairs(spec, params))
        self.dnn = MLP(inputs.width, hidden_sizes(params["hidden"]), params["dropout"], params["batch_norm"])
        self.head = nn.Linear(self.dnn.out_dim, 1, bias=False)

    def parts(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(wide logit [B], deep logit [B])."""
        deep_in = stack(self.embedding(batch), batch, self.use_raw)
        wide = self.wide(batch) + self.crosses(batch["cat"])
        return wide, self.head(self.dnn(deep_in)).squeeze(1)

    def forward(self, batch):
        wide, deep = self.parts(batch)
        return wide + deep

    def interactions(self, batch):
        wide, deep = self.parts(batch)
        return {"wide_logit": wide, "deep_logit": deep}

    def parameter_groups(self):
        wide = list(self.wide.parameters()) + list(self.crosses.parameters())
        wide_ids = {id(p) for p in wide}
        return {"wide": wide, "main": [p for p in self.parameters() if id(p) not in wide_ids]}


def wide_deep_space(t: ScopedTrial, spec: DataSpec) -> dict:
    params = {**common_space(t, spec), **mlp_space(t)}
    params["cross_source"] = t.categorical("cross_source", ["user", "auto"]) if spec.user_pairs else "auto"
    if params["cross_source"] == "auto":
        params["n_crosses"] = t.int("n_crosses", 0, min(MAX_AUTO_CROSSES, len(spec.ranked_pairs)))
    params["wide_optimizer"] = t.categorical("wide_optimizer", ["adagrad", "sgd", "adam"])
    params["wide_lr"] = t.float("wide_lr", 1e-3, 0.3, log=True)
    return params


WIDE_DEEP_CARD = ModelCard(
    "wide_deep", "Wide & Deep (Cheng et al., 2016)", "deep crossing",
    search_space=wide_deep_space, build=WideDeep,
    defaults={**COMMON_DEFAULTS, "optimizer": "adagrad", "lr": 0.01, "embed_dim": 32, "hidden": "1024-512-256",
              "dropout": 0.0, "batch_norm": False, "n_crosses": 3, "wide_optimizer": "adagrad", "wide_lr": 0.05},
    key_options=("n_crosses", "cross_source", "hidden", "wide_optimizer"),
)
