"""LR and FM (Rendle, 2010)."""

from __future__ import annotations

from models.base import RecModel, field_inputs, numeric_inputs, output_bias
from models.card import ModelCard
from models.common import COMMON_DEFAULTS, common_space
from models.layers.embeddings.embedding import FirstOrder
from models.layers.interactions.fm import fm_interaction, fm_pair_variance
from models.spec import DataSpec


class LogisticRegression(RecModel):
    """logit = b + sum_f w_f(x_f) + w . num: pure memorization of single features."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        use_buckets, use_raw = numeric_inputs(params)
        self.linear = FirstOrder(spec, use_buckets, use_raw, output_bias(spec))

    def forward(self, batch):
        return self.linear(batch)


class FactorizationMachine(RecModel):
    """LR + sum_{i<j} <v_i, v_j>: every pair of fields interacts through its latent vectors."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params, linear=True)
        self.linear, self.embedding = inputs.linear, inputs.embedding

    def forward(self, batch):
        return self.linear(batch) + fm_interaction(self.embedding(batch))

    def interactions(self, batch):
        """``pairs:fm`` [F, F]: the variance over rows of each pair's term <e_i, e_j>."""
        return {"pairs:fm": fm_pair_variance(self.embedding(batch))}


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
    search_space=lambda t, spec: common_space(t, spec),
    defaults={**COMMON_DEFAULTS, "embed_dim": 10},
    key_options=("embed_dim", "lr", "numeric_mode"),
)
