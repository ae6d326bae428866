"""PNN (Qu et al., 2016): a product layer between the embeddings and the MLP."""

from __future__ import annotations

import torch

from models.base import RecModel, field_inputs, output_bias
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
from models.layers.blocks.head import score_head
from models.layers.blocks.mlp import MLP, first_linear
from models.layers.blocks.stacking import stack
from models.layers.interactions.inner_product import inner_products
from models.layers.interactions.outer_product import KERNELS, OuterProduct
from models.layers.interactions.pairs import n_pairs, pair_matrix
from models.layers.interactions.sum_outer_product import SumOuterProduct
from models.spec import DataSpec


class PNN(RecModel):
    """MLP(concat(z, p)) -> score: z the stacked embeddings (and raw numerics), p the products.

    ``product``: ``inner`` (IPNN, <e_i, e_j> per pair), ``outer`` (OPNN, one kernel-reduced outer
    product per pair, or with ``opnn_sum_pooling`` the paper's D1 = first-hidden-width reductions
    of the summed embeddings' outer product), ``both`` (PNN*). With ``pair_gates`` "gated" each
    pair's products are scaled by a learned, L1-penalized gate α_ij (the sum-pooled one has no pairs)."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params)
        self.embedding, self.use_raw = inputs.embedding, inputs.use_raw
        dim, hidden = params["embed_dim"], hidden_sizes(params["hidden"])
        n, in_dim = self.embedding.n_fields, inputs.width
        self.stack_width = inputs.width      # the products follow stack(e, num) in the MLP input
        self.inner = params["product"] in ("inner", "both")
        if self.inner:
            in_dim += n_pairs(n)
        self.outer = None
        if params["product"] in ("outer", "both"):
            self.outer = (SumOuterProduct(dim, hidden[0]) if params["opnn_sum_pooling"]
                          else OuterProduct(n, dim, params["kernel"]))
            in_dim += self.outer.out_dim
        self.dnn = MLP(in_dim, hidden, params["dropout"], params["batch_norm"])
        self.head = score_head(self.dnn.out_dim, output_bias(spec))
        paired = self.inner or isinstance(self.outer, OuterProduct)
        self.gates = pair_gates(params, n_pairs(n)) if paired else None

    def products(self, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        """[B, F, k] -> the products in use: ``inner`` [B, P], ``outer`` [B, P] or ``outer_sum`` [B, D1];
        the per-pair ones gated when there are gates."""
        out = {"inner": inner_products(emb)} if self.inner else {}
        if self.outer is not None:
            out["outer_sum" if isinstance(self.outer, SumOuterProduct) else "outer"] = self.outer(emb)
        if self.gates is not None:
            out = {name: p if name == "outer_sum" else self.gates(p) for name, p in out.items()}
        return out

    def forward(self, batch):
        emb = self.embedding(batch)
        deep_in = torch.cat([stack(emb, batch, self.use_raw), *self.products(emb).values()], dim=1)
        return self.head(self.dnn(deep_in)).squeeze(1)

    def interactions(self, batch):
        """``pairs:products`` [F, F]: the mean over rows of ||sum_x W1[:, x_ij] x_ij||, the first
        MLP layer's pre-activation response to the pair's own products x (inner and/or outer, each
        times its columns of W1 [H, in], gated when gates are on); gated, also ``pairs:gates``
        [F, F], each pair's |α_ij|. The sum-pooled outer product has no pairs: absent when it is
        the only product."""
        emb = self.embedding(batch)
        weight = first_linear(self.dnn, self.head).weight
        responses, start = [], self.stack_width
        for name, product in self.products(emb).items():
            if name != "outer_sum":
                responses.append(product.unsqueeze(-1) * weight[:, start:start + product.shape[1]].T)  # [B, P, H]
            start += product.shape[1]
        if not responses:
            return {}
        views = {"pairs:products": pair_matrix(sum(responses).norm(dim=-1).mean(0), emb.shape[1])}
        return views if self.gates is None else {**views, "pairs:gates": self.gates.strength(emb.shape[1])}


def pnn_space(t: ScopedTrial, spec: DataSpec) -> dict:
    """The products, then ``pair_gates`` unless the only product is the sum-pooled one (no pairs)."""
    params = {**common_space(t, spec), **mlp_space(t), "product": t.categorical("product", ["inner", "outer", "both"])}
    if params["product"] != "inner":
        params["opnn_sum_pooling"] = t.categorical("opnn_sum_pooling", [False, True])
        if not params["opnn_sum_pooling"]:
            params["kernel"] = t.categorical("kernel", list(KERNELS))
    if params["product"] != "outer" or not params["opnn_sum_pooling"]:
        params.update(gate_space(t))
    return params


PNN_CARD = ModelCard(
    "pnn", "PNN (Qu et al., 2016)", "deep crossing",
    search_space=pnn_space, build=PNN,
    defaults={**COMMON_DEFAULTS, **GATE_DEFAULTS, "embed_dim": 10, "hidden": "400-400-400", "dropout": 0.5,
              "batch_norm": False, "product": "inner"},
    key_options=("product", "kernel", "opnn_sum_pooling", "hidden", "pair_gates"),
)
