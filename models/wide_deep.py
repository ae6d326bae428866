"""Wide & Deep (Cheng et al., 2016): a linear model over raw and crossed features (memorization)
plus an embedding MLP (generalization), trained jointly with separate optimizers."""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, field_inputs
from models.card import ModelCard, ScopedTrial
from models.common import (
    COMMON_DEFAULTS,
    GATE_DEFAULTS,
    common_space,
    gate_space,
    hidden_sizes,
    mlp_space,
    pair_gates,
)
from models.layers.blocks.mlp import MLP
from models.layers.blocks.stacking import stack
from models.layers.interactions.cross_product import CrossProductWeights
from models.layers.interactions.pairs import pair_matrix
from models.spec import MAX_CROSSES, DataSpec, column_name

DEFAULT_CROSSES = 3         # pairs crossed by default, ranked on the training split or diagnosed


def chosen_pairs(spec: DataSpec, params: dict) -> list[tuple[int, int]]:
    """The user's field pairs, the top ``n_diagnosed`` (default 3) pairs an earlier study's diagnostics found
    (``cross_source="diagnosed"``), or the top ``n_crosses`` pairs ranked on the training split. A pair
    index F + d (F = ``spec.n_fields``) is numeric column d's quantile bucket (``num_bkt``)."""
    if params.get("cross_source") == "user":
        return list(spec.user_pairs)
    if params.get("cross_source") == "diagnosed":
        return list(spec.diagnosed_pairs[: params.get("n_diagnosed", DEFAULT_CROSSES)])
    return list(spec.ranked_pairs[: params.get("n_crosses", 0)])


class WideDeep(RecModel):
    """Wide: the first-order part plus a weight per crossed value of each chosen pair (a pair of
    categorical fields, or of a field and a numeric column's quantile bucket, e.g. device x hour
    bucket); with ``pair_gates`` "gated" each pair's weights are scaled by a learned, L1-penalized
    gate. Deep: the embeddings (and raw numerics) through an MLP."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params, linear=True)
        self.wide, self.embedding, self.use_raw = inputs.linear, inputs.embedding, inputs.use_raw
        pairs = chosen_pairs(spec, params)
        self.crosses = CrossProductWeights([c.cardinality for c in (*spec.fields, *spec.buckets)], pairs)
        self.crosses_buckets = any(b >= spec.n_fields for _, b in pairs)
        self.cross_names = [f.name for f in spec.fields] + [column_name(b.name) for b in spec.buckets]
        self.gates = pair_gates(params, len(pairs)) if pairs else None
        self.dnn = MLP(inputs.width, hidden_sizes(params["hidden"]), params["dropout"], params["batch_norm"])
        self.head = nn.Linear(self.dnn.out_dim, 1, bias=False)

    def cross_codes(self, batch) -> torch.Tensor:
        """[B, F] the categorical codes, then [B, N] the numeric buckets when a cross reads one."""
        return torch.cat([batch["cat"], batch["num_bkt"]], dim=1) if self.crosses_buckets else batch["cat"]

    def parts(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(wide logit [B]: linear (with the bias) + crosses, deep logit [B]: the DNN's)."""
        deep_in = stack(self.embedding(batch), batch, self.use_raw)
        wide = self.wide(batch) + self.crosses(self.cross_codes(batch), self.gates)
        return wide, self.head(self.dnn(deep_in)).squeeze(1)

    def forward(self, batch):
        wide, deep = self.parts(batch)
        return wide + deep

    def interaction_names(self):
        """The embedding's names, or, when a cross reads numeric buckets that the embedding does not,
        the categorical fields then the numeric columns (the crosses' index space)."""
        if self.crosses_buckets and not self.embedding.use_buckets:
            return self.cross_names
        return super().interaction_names()

    def interactions(self, batch):
        """``wide_logit`` and ``deep_logit`` [B] from ``parts``; with crosses, ``pairs:wide_crosses``
        [F, F]: for each crossed pair the variance over rows (population) of the (gated) weight the
        row looks up, 0 for the other pairs; gated, also ``pairs:gates`` [F, F]: each crossed pair's |α|."""
        wide, deep = self.parts(batch)
        out = {"wide_logit": wide, "deep_logit": deep}
        if self.crosses.n_pairs:
            weights = self.crosses.pair_weights(self.cross_codes(batch))
            weights = weights if self.gates is None else self.gates(weights)
            n, index = len(self.interaction_names()), (self.crosses.left, self.crosses.right)
            out["pairs:wide_crosses"] = pair_matrix(weights.var(0, unbiased=False), n, index)
            if self.gates is not None:
                out["pairs:gates"] = self.gates.strength(n, index)
        return out

    def parameter_groups(self):
        gates = [] if self.gates is None else list(self.gates.parameters())
        wide = list(self.wide.parameters()) + list(self.crosses.parameters()) + gates
        wide_ids = {id(p) for p in wide}
        return {"wide": wide, "main": [p for p in self.parameters() if id(p) not in wide_ids]}


def wide_deep_space(t: ScopedTrial, spec: DataSpec) -> dict:
    params = {**common_space(t, spec), **mlp_space(t)}
    sources = ["user"] * bool(spec.user_pairs) + ["auto"] + ["diagnosed"] * bool(spec.diagnosed_pairs)
    params["cross_source"] = t.categorical("cross_source", sources) if len(sources) > 1 else "auto"
    if params["cross_source"] == "auto":
        params["n_crosses"] = t.int("n_crosses", 0, min(MAX_CROSSES, len(spec.ranked_pairs)))
    elif params["cross_source"] == "diagnosed":
        params["n_diagnosed"] = t.int("n_diagnosed", 1, min(MAX_CROSSES, len(spec.diagnosed_pairs)))
    if chosen_pairs(spec, params):
        params.update(gate_space(t))
    params["wide_optimizer"] = t.categorical("wide_optimizer", ["adagrad", "sgd", "adam"])
    params["wide_lr"] = t.float("wide_lr", 1e-3, 0.3, log=True)
    return params


WIDE_DEEP_CARD = ModelCard(
    "wide_deep", "Wide & Deep (Cheng et al., 2016)", "deep crossing",
    search_space=wide_deep_space, build=WideDeep,
    defaults={**COMMON_DEFAULTS, **GATE_DEFAULTS, "optimizer": "adagrad", "lr": 0.01, "embed_dim": 32, "hidden": "1024-512-256",
              "dropout": 0.0, "batch_norm": False, "n_crosses": DEFAULT_CROSSES, "wide_optimizer": "adagrad",
              "wide_lr": 0.05},
    key_options=("n_crosses", "cross_source", "hidden", "wide_optimizer", "pair_gates"),
    pair_sources=frozenset({"ranked", "user", "diagnosed"}),
)
