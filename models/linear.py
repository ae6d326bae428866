"""LR and FM (Rendle, 2010)."""

from __future__ import annotations

from models.base import RecModel, field_inputs, numeric_inputs, output_bias
from models.card import ModelCard
from models.common import COMMON_DEFAULTS, GATE_DEFAULTS, common_space, gate_space, pair_gates
from models.layers.embeddings.embedding import FirstOrder
from models.layers.embeddings.vocabulary import Vocabulary
from models.layers.interactions.fm import fm_interaction, fm_pair_views
from models.layers.interactions.gates import gate_matrix
from models.layers.interactions.pairs import n_pairs
from models.spec import DataSpec


class LogisticRegression(RecModel):
    """logit = b + sum_f w_f(x_f) + w . num: pure memorization of single features."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        use_buckets, use_raw = numeric_inputs(params)
        self.linear = FirstOrder(spec, use_buckets, use_raw, output_bias(spec), Vocabulary.of(params))

    def forward(self, batch):
        return self.linear(batch)


class FactorizationMachine(RecModel):
    """LR + sum_{i<j} <v_i, v_j>: every pair of fields interacts through its latent vectors; with
    ``pair_gates`` "gated", LR + sum_{i<j} α_ij <v_i, v_j> with a learned, L1-penalized gate per pair."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params, linear=True)
        self.linear, self.embedding = inputs.linear, inputs.embedding
        self.gates = pair_gates(params, n_pairs(self.embedding.n_fields))

    def forward(self, batch):
        emb = self.embedding(batch)
        return self.linear(batch) + fm_interaction(emb, gate_matrix(self.gates, emb.shape[1]))

    def interactions(self, batch):
        """``pairs:fm`` [F, F]: the variance over rows of each pair's term α_ij <e_i, e_j> (α = 1
        ungated); gated, also ``pairs:gates`` [F, F], each pair's |α_ij|."""
        return fm_pair_views(self.embedding(batch), self.gates)


LR_CARD = ModelCard(
    "lr", "Logistic / linear regression", "baseline",
    build=LogisticRegression,
    search_space=lambda t, spec: common_space(t, spec, embed=False),
    defaults={**COMMON_DEFAULTS, "lr": 1e-2},
    key_options=("optimizer", "lr", "numeric_mode"),
)

FM_CARD = ModelCard(
    "fm", "Factorization Machine (Rendle, 2010)", "factorization",
    build=FactorizationMachine,
    search_space=lambda t, spec: {**common_space(t, spec), **gate_space(t)},
    defaults={**COMMON_DEFAULTS, **GATE_DEFAULTS, "embed_dim": 10},
    key_options=("embed_dim", "lr", "numeric_mode", "pair_gates"),
)
