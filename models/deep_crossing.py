"""Deep Crossing (Shan et al., 2016): embeddings and raw numerics stacked, then residual units."""

from __future__ import annotations

from torch import nn

from models.base import RecModel, field_inputs, output_bias
from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS, common_space
from models.layers.blocks.head import score_head
from models.layers.blocks.residual import ResidualUnit
from models.layers.blocks.stacking import stack
from models.spec import DataSpec


class DeepCrossing(RecModel):
    """Embedding -> stacking (categorical embeddings, raw numerics) -> residual units -> score.
    The paper's units narrow (512-512-256-128-64 inner widths); here all share one inner width."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params)
        self.embedding, self.use_raw = inputs.embedding, inputs.use_raw
        width = inputs.width
        self.residual = nn.Sequential(
            *(ResidualUnit(width, params["inner_width"]) for _ in range(params["residual_units"]))
        )
        self.head = score_head(width, output_bias(spec))

    def forward(self, batch):
        return self.head(self.residual(stack(self.embedding(batch), batch, self.use_raw))).squeeze(1)


def deep_crossing_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        **common_space(t, spec),
        "residual_units": t.int("residual_units", 1, 5),
        "inner_width": t.categorical("inner_width", [64, 128, 256, 512]),
    }


DEEP_CROSSING_CARD = ModelCard(
    "deep_crossing", "Deep Crossing (Shan et al., 2016)", "deep crossing",
    search_space=deep_crossing_space, build=DeepCrossing,
    defaults={**COMMON_DEFAULTS, "embed_dim": 32, "residual_units": 5, "inner_width": 256},
    key_options=("residual_units", "inner_width", "embed_dim", "numeric_mode"),
)
