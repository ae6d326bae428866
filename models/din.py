"""DIN (Zhou et al., 2018): the behavior history pooled by a candidate-aware activation unit;
with ``pooling="sum"`` it is the paper's base model (Embedding & sum pooling & MLP)."""

from __future__ import annotations

from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS
from models.history_model import HISTORY_NEEDS, HistoryModel, behavior_dim, history_space
from models.layers.attention.activation_unit import INTERACTIONS, ActivationUnit
from models.spec import DataSpec


class DIN(HistoryModel):
    """v_U = sum_j w_j e_j over the real steps, w_j from ``ActivationUnit`` (``pooling="attention"``)
    or 1 (``pooling="sum"``, the base model)."""

    def __init__(self, spec: DataSpec, params: dict):
        dim = behavior_dim(spec, params)
        super().__init__(spec, params, dim)
        self.unit = ActivationUnit(dim, (80, 40), params["interaction"], params["activation"],
                                   params["normalization"]) if params["pooling"] == "attention" else None

    def interest(self, candidate, steps, mask, batch):
        weights = mask.float() if self.unit is None else self.unit(steps, candidate, mask)
        return (weights.unsqueeze(-1) * steps).sum(1), weights


def din_space(t: ScopedTrial, spec: DataSpec) -> dict:
    params = {**history_space(t, spec), "pooling": t.categorical("pooling", ["attention", "sum"])}
    if params["pooling"] == "attention":
        params["interaction"] = t.categorical("interaction", list(INTERACTIONS))
        params["normalization"] = t.categorical("normalization", ["none", "softmax"])
        params["activation"] = t.categorical("activation", ["dice", "prelu"])
    return params


DIN_CARD = ModelCard(
    "din", "DIN (Zhou et al., 2018)", "behavior sequence",
    search_space=din_space, build=DIN, **HISTORY_NEEDS,
    defaults={**COMMON_DEFAULTS, "embed_dim": 16, "hidden": "200-80", "dropout": 0.0, "batch_norm": False,
              "pooling": "attention", "interaction": "product+difference", "normalization": "none",
              "activation": "dice"},
    key_options=("pooling", "interaction", "normalization", "activation", "embed_dim"),
)
