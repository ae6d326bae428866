"""AutoRec (Sedhain et al., 2015): an autoencoder over the rows of the user-item rating matrix.

I-AutoRec (``item_based``) reconstructs each item's ratings by all m users, r^(i) in R^m:
h(r) = f(W g(V r + mu) + b), hidden size k; the prediction for (u, i) is h(r^(i))_u. U-AutoRec
swaps users and items. The loss counts observed entries only: only they are decoded, so an
unobserved entry cannot change it. Per batch of matrix rows it is the mean squared error over
their observed entries + lambda / (2 N) (||W||^2 + ||V||^2), N the number of training ratings:
the paper's objective divided by N. Bounded f (sigmoid) is rescaled to the training ratings'
range. A (user, item) whose user or item has no training rating falls back to the training
mean; ``notes`` counts those fallbacks.

The model learns from the matrix, not from rows: ``training_data`` stores the training ratings
(as persistent buffers, in compressed rows, so the saved weights predict on their own) and hands
the epoch the row indices, ``EPOCH_PASSES`` times over.
"""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel
from models.card import ModelCard
from models.spec import DataSpec

ACTIVATIONS = {"identity": nn.Identity, "sigmoid": nn.Sigmoid, "relu": nn.ReLU, "elu": nn.ELU}
EPOCH_PASSES = 5     # passes over the matrix rows per epoch (a row is one training example)


class AutoRec(RecModel):
    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        item_based = params["item_based"]
        self.row_field, self.col_field = ((spec.item_field, spec.user_field) if item_based
                                          else (spec.user_field, spec.item_field))
        n_rows, n_cols = spec.fields[self.row_field].cardinality, spec.fields[self.col_field].cardinality
        k = params["hidden_units"]
        self.encoder, self.decoder = nn.Linear(n_cols, k), nn.Linear(k, n_cols)    # V, mu and W, b
        self.g, self.f = ACTIVATIONS[params["g"]](), ACTIVATIONS[params["f"]]()
        self.bounded, self.lam = params["f"] == "sigmoid", params["lambda"]
        for name, size, dtype in (("row_ptr", n_rows + 1, torch.long), ("cols", 0, torch.long),
                                  ("ratings", 0, torch.float32), ("col_seen", n_cols, torch.bool)):
            self.register_buffer(name, torch.zeros(size, dtype=dtype))
        self.register_buffer("stats", torch.tensor([spec.label_mean, spec.label_mean, spec.label_mean]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Stored weights carry the training ratings, whose count a fresh model cannot know:
        size the rating buffers to the stored ones before loading."""
        for name in ("cols", "ratings"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def training_data(self, rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Store ``rows``' ratings as compressed matrix rows (a pair rated twice keeps its last
        rating); -> the row indices with a rating."""
        r, c, y = rows["cat"][:, self.row_field], rows["cat"][:, self.col_field], rows["label"].float()
        self.stats = torch.stack([y.mean(), y.min(), y.max()])                      # mean, low, high
        key = r * len(self.col_seen) + c
        order = torch.argsort(key, stable=True)                       # by matrix row, then column
        last = torch.cat([key[order][1:] != key[order][:-1], key.new_ones(1, dtype=torch.bool)])
        order = order[last]
        r, c, y = r[order], c[order], y[order]
        counts = torch.bincount(r, minlength=len(self.row_ptr) - 1)
        self.row_ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        self.cols, self.ratings = c, y
        self.col_seen = torch.bincount(c, minlength=len(self.col_seen)) > 0
        with torch.no_grad():
            self.decoder.bias.fill_(0.0 if self.bounded else float(y.mean()))
        present = torch.nonzero(counts).squeeze(1).repeat(EPOCH_PASSES)
        return {"row": present, "label": torch.zeros(len(present), device=present.device)}

    def entries(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Observed entries of matrix rows ``rows`` [B]: (position in ``rows``, column, rating)."""
        start, length = self.row_ptr[rows], self.row_ptr[rows + 1] - self.row_ptr[rows]
        local = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), length)
        first = torch.repeat_interleave(length.cumsum(0) - length, length)
        index = torch.repeat_interleave(start, length) + torch.arange(len(local), device=rows.device) - first
        return local, self.cols[index], self.ratings[index]

    def encode(self, rows: torch.Tensor) -> torch.Tensor:
        """g(V r + mu) [B, k] of matrix rows ``rows`` [B] (sparse input)."""
        local, cols, ratings = self.entries(rows)
        sparse = torch.sparse_coo_tensor(torch.stack([local, cols]), ratings, (len(rows), self.encoder.in_features),
                                         check_invariants=False)
        with torch.autocast(rows.device.type, enabled=False):        # a sparse product: fp32 even under bf16 autocast
            return self.g(torch.sparse.mm(sparse, self.encoder.weight.t()) + self.encoder.bias)

    def decode(self, z: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """h(r)_c for hidden codes z [B, k] and one column c per code, cols [B] -> [B]."""
        out = self.f((z * self.decoder.weight[cols]).sum(-1) + self.decoder.bias[cols])
        return self.stats[1] + (self.stats[2] - self.stats[1]) * out if self.bounded else out

    def fallback(self, batch) -> torch.Tensor:
        """bool [B]: rows whose matrix row or column has no training rating."""
        r, c = batch["cat"][:, self.row_field], batch["cat"][:, self.col_field]
        return (self.row_ptr[r + 1] == self.row_ptr[r]) | ~self.col_seen[c]

    def forward(self, batch):
        rows, inverse = torch.unique(batch["cat"][:, self.row_field], return_inverse=True)
        predicted = self.decode(self.encode(rows)[inverse], batch["cat"][:, self.col_field])
        return torch.where(self.fallback(batch), self.stats[0], predicted)

    def training_loss(self, batch, loss_fn):
        local, cols, ratings = self.entries(batch["row"])
        error = loss_fn(self.decode(self.encode(batch["row"])[local], cols), ratings)
        weights = self.encoder.weight.pow(2).sum() + self.decoder.weight.pow(2).sum()
        return error + self.lam / (2 * len(self.ratings)) * weights

    def notes(self, batch) -> dict[str, float]:
        return {"fallbacks": int(self.fallback(batch).sum())}


AUTOREC_CARD = ModelCard(
    "autorec", "AutoRec (Sedhain et al., 2015)", "collaborative filtering",
    build=AutoRec,
    tasks=frozenset({"rating"}),
    requires=frozenset({"user", "item"}),
    search_space=lambda t, spec: {
        "optimizer": t.categorical("optimizer", ["adam", "adamw", "adagrad"]),
        "lr": t.float("lr", 1e-5, 3e-3, log=True),
        "batch_size": t.categorical("batch_size", [16, 32, 64, 128, 256]),   # matrix rows per batch
        "item_based": t.categorical("item_based", [True, False]),
        "hidden_units": t.categorical("hidden_units", [100, 200, 300, 500]),
        "g": t.categorical("g", list(ACTIVATIONS)),
        "f": t.categorical("f", list(ACTIVATIONS)),
        "lambda": t.float("lambda", 1e-1, 3e3, log=True),
    },
    # the paper's I-AutoRec (500 sigmoid units, identity output); lambda and the Adam learning rate
    # are where it fits ML-100K best in docs/BENCHMARKS.md (the paper tuned lambda and used L-BFGS)
    defaults={"optimizer": "adam", "lr": 1e-4, "batch_size": 64, "item_based": True, "hidden_units": 500,
              "g": "sigmoid", "f": "identity", "lambda": 100.0},
    key_options=("item_based", "hidden_units", "g", "f", "lambda"),
)
