"""Two-tower retrieval model (Yi et al., 2019): a user tower over the user-side fields (and the
mean of the behavior history's item embeddings, where the data has one) and an item tower over
the item-side fields, scored by dot product, cosine / temperature or an MLP. Context fields and
numeric columns go into neither tower (``FieldInfo.side`` decides).

Training: pointwise log loss on the sampled negatives of the implicit task, or in-batch sampled
softmax (every other positive of the batch is a negative) with the log-Q correction: each
logit s(u, j) becomes s(u, j) - log q_j, q_j the item's estimated frequency in the training
stream (``ItemFrequency``); other rows of the same item are masked out, not counted as negatives.
For ranking, every item is embedded once (``item_vectors``) and the candidates gathered.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.base import RecModel, output_bias
from models.card import ModelCard
from models.common import EMBEDDING_DEFAULTS, common_space
from models.layers.blocks.item_frequency import ItemFrequency
from models.layers.blocks.mlp import MLP
from models.layers.embeddings.ids import ColumnEmbedding
from models.layers.embeddings.sides import item_columns, user_columns
from models.layers.embeddings.vocabulary import Vocabulary
from models.spec import DataSpec

TOWER_CHOICES = ["", "64", "128-64", "256-128"]


def tower(in_dim: int, hidden: str, out_dim: int, dropout: float) -> nn.Sequential:
    """MLP (``hidden`` widths, "" for none) then a linear map to the shared ``out_dim``."""
    widths = tuple(int(w) for w in hidden.split("-") if w)
    mlp = MLP(in_dim, widths, dropout)
    return nn.Sequential(mlp, nn.Linear(mlp.out_dim, out_dim))


class TwoTower(RecModel):
    scores_items_in_bulk = True

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        k, d = params["embed_dim"], params["out_dim"]
        self.user_cols, self.item_field = user_columns(spec), spec.item_field
        vocab = Vocabulary.of(params)
        self.user_embedding = ColumnEmbedding(spec, self.user_cols, k, params["l2"], vocab=vocab)
        self.item_embedding = ColumnEmbedding(spec, item_columns(spec), k, params["l2"], vocab=vocab)
        self.pool_history = spec.history is not None and spec.history.field_index[0] == spec.item_field
        user_in = k * (len(self.user_cols) + self.pool_history)
        self.user_tower = tower(user_in, params["tower"], d, params["dropout"])
        self.item_tower = tower(k * len(item_columns(spec)), params["tower"], d, params["dropout"])
        self.scoring, self.temperature = params["scoring"], params["temperature"]
        self.scorer = nn.Sequential(MLP(2 * d, (d,)), nn.Linear(d, 1)) if self.scoring == "mlp" else None
        self.bias = nn.Parameter(torch.tensor(float(output_bias(spec))))
        self.in_batch_negatives = params["loss"] == "softmax"
        self.frequency = ItemFrequency(spec.fields[spec.item_field].cardinality)

    def user_vectors(self, batch) -> torch.Tensor:
        """[B, d] from the user-side fields (+ the mean history item embedding)."""
        parts = [self.user_embedding(batch).flatten(1)]
        if self.pool_history:
            hist = batch["hist0"]
            vectors = self.item_embedding.vectors(hist.unsqueeze(-1), [0]).squeeze(-2)
            real = (hist > 0).unsqueeze(-1)
            parts.append((vectors * real).sum(1) / real.sum(1).clamp(min=1))
        return self.user_tower(torch.cat(parts, dim=1))

    def item_vectors(self, item_codes: torch.Tensor) -> torch.Tensor:
        """item_codes [N, n_item_fields] (``item_columns`` order) -> [N, d]."""
        return self.item_tower(self.item_embedding.lookup(item_codes).flatten(1))

    def score(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """u [B, d] and v [B, C, d] (each row its own items) or [C, d] (the same items for every
        row, as in-batch) -> [B, C] (without the bias)."""
        if self.scoring == "mlp":
            v = v.unsqueeze(0).expand(len(u), -1, -1) if v.dim() == 2 else v
            return self.scorer(torch.cat([u.unsqueeze(1).expand_as(v), v], dim=-1)).squeeze(-1)
        if self.scoring == "cosine":
            u, v = F.normalize(u, dim=-1), F.normalize(v, dim=-1)
        dots = u @ v.T if v.dim() == 2 else torch.einsum("bd,bcd->bc", u, v)
        return dots / self.temperature if self.scoring == "cosine" else dots

    def forward(self, batch):
        v = self.item_vectors(batch["cat"][:, self.item_embedding.columns])
        return self.score(self.user_vectors(batch), v.unsqueeze(1)).squeeze(1) + self.bias

    def score_items(self, rows, vectors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """rows (U rows), vectors [I, d] of every item, candidates [U, C] -> [U, C]."""
        return self.score(self.user_vectors(rows), vectors[candidates]) + self.bias

    def corrected_logits(self, batch) -> torch.Tensor:
        """[B, B]: s(u_b, v_j) - log q_j; entries where row j shows row b's item (j != b) -inf."""
        items = batch["cat"][:, self.item_field]
        v = self.item_vectors(batch["cat"][:, self.item_embedding.columns])
        u = self.user_vectors(batch)
        logits = self.score(u, v) - self.frequency.log_q(items).unsqueeze(0)
        same = (items.unsqueeze(0) == items.unsqueeze(1)) & ~torch.eye(len(items), dtype=torch.bool,
                                                                        device=items.device)
        return logits.masked_fill(same, float("-inf"))

    def training_loss(self, batch, loss_fn):
        if not self.in_batch_negatives:
            return super().training_loss(batch, loss_fn)
        self.frequency.update(batch["cat"][:, self.item_field])
        logits = self.corrected_logits(batch)
        return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def scoring_space(t) -> dict:
    """The scoring function; a temperature only for cosine (1.0, unused, otherwise)."""
    scoring = t.categorical("scoring", ["dot", "cosine", "mlp"])
    temperature = t.float("temperature", 0.02, 1.0, log=True) if scoring == "cosine" else 1.0
    return {"scoring": scoring, "temperature": temperature}


TWO_TOWER_CARD = ModelCard(
    "two_tower", "Two-tower retrieval with sampling-bias correction (Yi et al., 2019)",
    "collaborative filtering",
    build=TwoTower,
    tasks=frozenset({"implicit"}),
    requires=frozenset({"user", "item"}),
    search_space=lambda t, spec: {
        **common_space(t, spec, ids_only=True),
        "tower": t.categorical("tower", TOWER_CHOICES),
        "out_dim": t.categorical("out_dim", [16, 32, 64]),
        "dropout": t.float("dropout", 0.0, 0.3),
        **scoring_space(t),
        "loss": t.categorical("loss", ["pointwise", "softmax"]),
    },
    defaults={"optimizer": "adam", "lr": 3e-3, "batch_size": 512, "l2": 1e-6, "weight_decay": 0.0, "embed_dim": 32,
              **EMBEDDING_DEFAULTS,
              "tower": "128-64", "out_dim": 32, "dropout": 0.0, "scoring": "cosine", "temperature": 0.05, "loss": "softmax"},
    key_options=("scoring", "loss", "tower", "out_dim"),
)
