"""DCN-V2 (Wang et al., 2021): a cross network and an MLP, stacked or in parallel."""

from __future__ import annotations

import torch

from models.base import RecModel, field_inputs, output_bias
from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS, common_space, hidden_sizes, mlp_space
from models.layers.blocks.head import score_head
from models.layers.blocks.mlp import MLP
from models.layers.blocks.stacking import stack
from models.layers.interactions.cross import CrossNetwork
from models.layers.interactions.pairs import symmetric_pairs
from models.spec import DataSpec, column_name

RANKS = ["full", "8", "16", "32", "64"]   # "full": W is d x d; "r": W = U V^T of rank r


class DCNv2(RecModel):
    """x0 = stack(e, num); ``stacked``: score(MLP(Cross(x0))); ``parallel``: score([Cross(x0), MLP(x0)]).

    ``interaction_names``: the embedding's names, then the raw numeric columns (a missing flag
    counts as its column), each name once; ``block`` [d] maps each coordinate of x0 to its name."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params)
        self.embedding, self.use_raw = inputs.embedding, inputs.use_raw
        width = inputs.width
        rank = None if params["rank"] == "full" else int(params["rank"])
        self.cross = CrossNetwork(width, params["cross_layers"], rank)
        coordinates = [name for name in self.embedding.names for _ in range(params["embed_dim"])]
        coordinates += [column_name(name) for name in spec.numeric] if self.use_raw else []
        self.names = list(dict.fromkeys(coordinates))
        self.register_buffer("block", torch.tensor([self.names.index(name) for name in coordinates],
                                                   dtype=torch.long), persistent=False)
        self.parallel = params["structure"] == "parallel"
        self.dnn = MLP(width, hidden_sizes(params["hidden"]), params["dropout"], params["batch_norm"])
        self.head = score_head(self.dnn.out_dim + (width if self.parallel else 0), output_bias(spec))

    def forward(self, batch):
        x0 = stack(self.embedding(batch), batch, self.use_raw)
        crossed = self.cross(x0)
        out = torch.cat([crossed, self.dnn(x0)], dim=1) if self.parallel else self.dnn(crossed)
        return self.head(out).squeeze(1)

    def interaction_names(self):
        return list(self.names)

    def interactions(self, batch):
        """``pairs:cross_weights`` [F, F]: for fields i ≠ j (a name's block: all its coordinates of
        x0), Σ over cross layers of ‖W[block_i, block_j]‖_F · r_i · r_j, symmetrised, zero diagonal;
        r = the root mean square over the batch of each block's norm in x0. A layer adds
        x0_i ⊙ (W_ij x0_j), so this bounds the size of the pair's term: a block of weights that its
        inputs never fill (a field whose embeddings stayed small) counts little."""
        x0 = stack(self.embedding(batch), batch, self.use_raw)
        member = torch.nn.functional.one_hot(self.block, len(self.names)).to(x0.dtype)    # [d, n]
        scale = (x0.square().mean(0) @ member).sqrt()                                     # [n]
        norms = self.cross.block_norms(self.block, len(self.names))
        return {"pairs:cross_weights": symmetric_pairs(norms * scale.unsqueeze(1) * scale.unsqueeze(0))}


def dcnv2_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        **common_space(t, spec),
        **mlp_space(t),
        "structure": t.categorical("structure", ["stacked", "parallel"]),
        "cross_layers": t.int("cross_layers", 1, 6),
        "rank": t.categorical("rank", RANKS),
    }


DCNV2_CARD = ModelCard(
    "dcnv2", "DCN-V2 (Wang et al., 2021)", "deep crossing",
    search_space=dcnv2_space, build=DCNv2,
    defaults={**COMMON_DEFAULTS, "embed_dim": 16, "hidden": "400-400-400", "dropout": 0.0, "batch_norm": False,
              "structure": "stacked", "cross_layers": 3, "rank": "full"},
    key_options=("structure", "cross_layers", "rank", "hidden"),
)
