"""AFM (Xiao et al., 2017): FM whose pairwise interactions are pooled with attention."""

from __future__ import annotations

from torch import nn

from models.base import RecModel, field_inputs
from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS, common_space
from models.layers.attention.attention_pooling import AttentionPairPooling
from models.layers.interactions.pairs import elementwise_pairs, pair_matrix
from models.spec import DataSpec


class AFM(RecModel):
    """y = linear + p^T dropout(sum_{i<j} a_ij (e_i ⊙ e_j)). Raw numerics enter the linear part only."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params, linear=True)
        self.linear, self.embedding = inputs.linear, inputs.embedding
        dim = params["embed_dim"]
        self.attention = AttentionPairPooling(dim, params["attention_size"], params.get("attention_l2", 0.0))
        self.dropout = nn.Dropout(params["dropout"])
        self.head = nn.Linear(dim, 1, bias=False)

    def forward(self, batch):
        pooled, _ = self.attention(self.embedding(batch))
        return self.linear(batch) + self.head(self.dropout(pooled)).squeeze(1)

    def interactions(self, batch):
        """``pairs:afm`` [F, F]: the variance over rows (population) of each pair's logit term
        a_ij p^T (e_i ⊙ e_j)."""
        emb = self.embedding(batch)
        _, weights = self.attention(emb)
        terms = weights * (elementwise_pairs(emb) @ self.head.weight.squeeze(0))       # [B, P]
        return {"pairs:afm": pair_matrix(terms.var(0, unbiased=False), emb.shape[1])}


# λ of the paper's L2 on the attention network's W, per batch (the loss is a batch mean)
ATTENTION_L2 = [0.0, 1e-5, 1e-4, 1e-3, 1e-2]


def afm_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        **common_space(t, spec),
        "attention_size": t.categorical("attention_size", [4, 8, 16, 32, 64, 128, 256]),
        "dropout": t.float("dropout", 0.0, 0.7),
        "attention_l2": t.categorical("attention_l2", ATTENTION_L2),
    }



AFM_CARD = ModelCard(
    "afm", "AFM (Xiao et al., 2017)", "factorization",
    search_space=afm_space, build=AFM,
    # The authors' optimal run: attention factor 8, dropout 0.5 on the pooled vector (embedding 256
    # there; 64 is the largest size offered here).
    defaults={**COMMON_DEFAULTS, "embed_dim": 64, "attention_size": 8, "dropout": 0.5,
              "attention_l2": 0.0},
    key_options=("attention_size", "dropout", "embed_dim"),
)
