"""NFM (He & Chua, 2017): Bi-Interaction pooling, then hidden layers."""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, field_inputs
from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS, GATE_DEFAULTS, common_space, gate_space, pair_gates
from models.layers.blocks.mlp import MLP, first_linear
from models.layers.interactions.fm import bi_interaction
from models.layers.interactions.gates import gate_matrix
from models.layers.interactions.pairs import elementwise_pairs, n_pairs, pair_matrix
from models.spec import DataSpec


class NFM(RecModel):
    """y = linear + h^T MLP(dropout(BN(f_BI(e)))), f_BI = sum_{i<j} e_i ⊙ e_j. With no hidden layer
    (NFM-0) it is an FM with a learned projection h. Raw numerics enter the linear part only. With
    ``pair_gates`` "gated", f_BI = sum_{i<j} α_ij e_i ⊙ e_j with a learned, L1-penalized gate per pair."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params, linear=True)
        self.linear, self.embedding = inputs.linear, inputs.embedding
        dim = params["embed_dim"]
        norm = [nn.BatchNorm1d(dim)] if params["batch_norm"] else []
        self.pooled = nn.Sequential(*norm, nn.Dropout(params["bi_dropout"]))
        hidden = (params.get("hidden_width", 0),) * params["hidden_layers"]
        self.dnn = MLP(dim, hidden, params.get("dropout", 0.0), params["batch_norm"])
        self.head = nn.Linear(self.dnn.out_dim, 1, bias=False)
        self.gates = pair_gates(params, n_pairs(self.embedding.n_fields))

    def forward(self, batch):
        emb = self.embedding(batch)
        z = self.dnn(self.pooled(bi_interaction(emb, gate_matrix(self.gates, emb.shape[1]))))
        return self.linear(batch) + self.head(z).squeeze(1)

    def pooled_scale(self) -> torch.Tensor | float:
        """[k] (or 1): what ``pooled`` multiplies f_BI by in eval mode, the BatchNorm's
        gamma / sqrt(running var + eps) (its shift is shared by all pairs; dropout is off)."""
        norm = self.pooled[0]
        return norm.weight / (norm.running_var + norm.eps).sqrt() if isinstance(norm, nn.BatchNorm1d) else 1.0

    def interactions(self, batch):
        """``pairs:bi_interaction`` [F, F]: the mean over rows of ||W1 (s ⊙ α_ij e_i ⊙ e_j)||, each
        pair's term as the first linear map W1 [H, k] reading f_BI sees it (the first hidden layer,
        or the head without one; s = ``pooled_scale``; α_ij = 1 ungated); gated, also ``pairs:gates``
        [F, F], each pair's |α_ij|."""
        emb = self.embedding(batch)
        reader = first_linear(self.dnn, self.head).weight
        terms = elementwise_pairs(emb) if self.gates is None else self.gates(elementwise_pairs(emb))
        response = (terms * self.pooled_scale()) @ reader.T      # [B, P, H]
        views = {"pairs:bi_interaction": pair_matrix(response.norm(dim=-1).mean(0), emb.shape[1])}
        return views if self.gates is None else {**views, "pairs:gates": self.gates.strength(emb.shape[1])}


def nfm_space(t: ScopedTrial, spec: DataSpec) -> dict:
    params = {
        **common_space(t, spec),
        "hidden_layers": t.int("hidden_layers", 0, 3),
        "batch_norm": t.categorical("batch_norm", [False, True]),
        "bi_dropout": t.float("bi_dropout", 0.0, 0.7),
        **gate_space(t),
    }
    if params["hidden_layers"]:
        params["hidden_width"] = t.categorical("hidden_width", [32, 64, 128, 256])
        params["dropout"] = t.float("dropout", 0.0, 0.5)
    return params


NFM_CARD = ModelCard(
    "nfm", "NFM (He & Chua, 2017)", "factorization",
    search_space=nfm_space, build=NFM,
    defaults={**COMMON_DEFAULTS, **GATE_DEFAULTS, "embed_dim": 64, "hidden_layers": 1, "hidden_width": 64, "dropout": 0.2,
              "batch_norm": True, "bi_dropout": 0.5},
    key_options=("hidden_layers", "batch_norm", "bi_dropout", "embed_dim", "pair_gates"),
)
