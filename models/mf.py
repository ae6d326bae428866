"""Matrix factorization: r_ui = mu + b_u + b_i + <p_u, q_i> (Koren et al., 2009)."""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, output_bias
from models.card import ModelCard
from models.common import EMBEDDING_DEFAULTS, common_space
from models.layers.embeddings.ids import user_item
from models.layers.embeddings.vocabulary import Vocabulary
from models.spec import DataSpec


class MatrixFactorization(RecModel):
    """A rating on ``rating`` data, a logit on ``implicit`` data; reads the user and item ids only.
    ``l2`` regularizes the looked-up factors and biases (per row, like every embedding here)."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        vocab = Vocabulary.of(params)
        self.factors = user_item(spec, params["embed_dim"], params["l2"], std=params["init_std"], vocab=vocab)
        self.biases = user_item(spec, 1, params["l2"], std=0.0, vocab=vocab)
        self.mu = nn.Parameter(torch.tensor(float(output_bias(spec))))

    def forward(self, batch):
        f, b = self.factors(batch), self.biases(batch)
        return self.mu + b.sum(dim=(1, 2)) + (f[:, 0] * f[:, 1]).sum(1)


MF_CARD = ModelCard(
    "mf", "Matrix factorization with biases (Koren et al., 2009)", "collaborative filtering",
    build=MatrixFactorization,
    tasks=frozenset({"rating", "implicit"}),
    requires=frozenset({"user", "item"}),
    search_space=lambda t, spec: {**common_space(t, spec, l2_range=(1e-6, 1e-1), ids_only=True),
                                  "init_std": t.float("init_std", 0.01, 0.3, log=True)},
    defaults={"optimizer": "adam", "lr": 3e-3, "batch_size": 512, "l2": 1e-2, "weight_decay": 0.0, "embed_dim": 32,
              **EMBEDDING_DEFAULTS,
              "init_std": 0.1},
    key_options=("embed_dim", "l2", "lr"),
)
