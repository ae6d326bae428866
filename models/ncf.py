"""Neural collaborative filtering (He et al., 2017): GMF, MLP and NeuMF over user and item ids.

Widths follow the paper: ``embed_dim`` is the number of predictive factors k (GMF's embedding
and the MLP tower's last layer); the tower has ``mlp_layers`` layers halving down to k
(k = 8, 3 layers: 32-16-8) over concat(p_u, q_i) with p_u, q_i of size 2k (the paper code's
layers[0] / 2).
"""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, output_bias
from models.card import ModelCard
from models.common import EMBEDDING_DEFAULTS, common_space
from models.layers.blocks.mlp import MLP
from models.layers.embeddings.ids import user_item
from models.layers.embeddings.vocabulary import Vocabulary
from models.spec import DataSpec

ALPHA = 0.5     # NeuMF pretraining: the joint head starts as alpha * GMF head ++ (1 - alpha) * MLP head


def tower_widths(k: int, layers: int) -> tuple[int, ...]:
    """(k * 2^(layers-1), ..., 2k, k): ``tower_widths(8, 3)`` = (32, 16, 8)."""
    return tuple(k * 2 ** (layers - 1 - i) for i in range(layers))


class GMFPart(nn.Module):
    """batch -> p_u ⊙ q_i [B, k]."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        self.embedding = user_item(spec, params["embed_dim"], params["l2"], vocab=Vocabulary.of(params))

    def forward(self, batch):
        e = self.embedding(batch)
        return e[:, 0] * e[:, 1]


class MLPPart(nn.Module):
    """batch -> tower(concat(p_u, q_i)) [B, k]."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        widths = tower_widths(params["embed_dim"], params["mlp_layers"])
        self.embedding = user_item(spec, widths[0] // 2, params["l2"], vocab=Vocabulary.of(params))
        self.tower = MLP(widths[0], widths, params.get("dropout", 0.0))

    def forward(self, batch):
        return self.tower(self.embedding(batch).flatten(1))


class NCFModel(RecModel):
    """logit = h^T concat(part vectors) + b, ``parts`` a ModuleDict of GMFPart / MLPPart."""

    def __init__(self, spec: DataSpec, params: dict, parts: dict[str, nn.Module]):
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.head = nn.Linear(params["embed_dim"] * len(parts), 1)
        nn.init.constant_(self.head.bias, output_bias(spec))

    def forward(self, batch):
        return self.head(torch.cat([part(batch) for part in self.parts.values()], dim=1)).squeeze(1)


def build_gmf(spec: DataSpec, params: dict) -> NCFModel:
    return NCFModel(spec, params, {"gmf": GMFPart(spec, params)})


def build_mlp(spec: DataSpec, params: dict) -> NCFModel:
    return NCFModel(spec, params, {"mlp": MLPPart(spec, params)})


class NeuMF(NCFModel):
    """GMF and MLP with separate embeddings, joined before the output layer."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__(spec, params, {"gmf": GMFPart(spec, params), "mlp": MLPPart(spec, params)})

    def load_pretrained(self, states: dict[str, dict[str, torch.Tensor]]) -> NeuMF:
        """Start from trained GMF and MLP models (``states["gmf"]``, ``states["mlp"]``: their
        state dicts): their parts as they are, the head as alpha-weighted halves of theirs."""
        weights, biases = [], []
        for name, share in (("gmf", ALPHA), ("mlp", 1 - ALPHA)):
            state = states[name]
            self.parts[name].load_state_dict({k.split(".", 2)[2]: v for k, v in state.items()
                                              if k.startswith(f"parts.{name}.")})
            weights.append(share * state["head.weight"])
            biases.append(share * state["head.bias"])
        with torch.no_grad():
            self.head.weight.copy_(torch.cat(weights, dim=1))
            self.head.bias.copy_(sum(biases))
        return self


NCF_DEFAULTS = {"optimizer": "adam", "lr": 1e-3, "batch_size": 256, "l2": 1e-8, "weight_decay": 0.0, "embed_dim": 8,
                **EMBEDDING_DEFAULTS}
NCF_NEEDS = {"tasks": frozenset({"implicit"}), "requires": frozenset({"user", "item"})}


def ncf_space(t, spec: DataSpec, tower: bool) -> dict:
    params = common_space(t, spec, ids_only=True)
    if tower:
        params.update(mlp_layers=t.int("mlp_layers", 1, 4), dropout=t.float("dropout", 0.0, 0.5))
    return params


GMF_CARD = ModelCard(
    "gmf", "GMF, generalized matrix factorization (He et al., 2017)", "collaborative filtering",
    search_space=lambda t, spec: ncf_space(t, spec, tower=False), build=build_gmf, **NCF_NEEDS,
    defaults=NCF_DEFAULTS, key_options=("embed_dim", "lr"),
)

MLP_CARD = ModelCard(
    "mlp", "MLP over user and item embeddings (He et al., 2017)", "collaborative filtering",
    search_space=lambda t, spec: ncf_space(t, spec, tower=True), build=build_mlp, **NCF_NEEDS,
    defaults={**NCF_DEFAULTS, "mlp_layers": 3, "dropout": 0.0}, key_options=("embed_dim", "mlp_layers", "lr"),
)

NEUMF_CARD = ModelCard(
    "neumf", "NeuMF, GMF + MLP (He et al., 2017)", "collaborative filtering",
    build=NeuMF, **NCF_NEEDS,
    search_space=lambda t, spec: {**ncf_space(t, spec, tower=True),
                                  "pretrain": t.categorical("pretrain", [False, True])},
    defaults={**NCF_DEFAULTS, "mlp_layers": 3, "dropout": 0.0, "pretrain": True},
    key_options=("embed_dim", "mlp_layers", "pretrain"),
    pretrain=(GMF_CARD, MLP_CARD),
)
