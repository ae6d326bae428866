"""Parameter-free baselines of the implicit task: every model there must beat them."""

from __future__ import annotations

import torch

from models.base import RecModel
from models.card import ModelCard, ModelKind
from models.spec import DataSpec


class Popularity(RecModel):
    """score = log(1 + number of training positives of the item); ``fit(rows)`` counts them."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        self.item_field = spec.item_field
        self.register_buffer("counts", torch.zeros(spec.fields[spec.item_field].cardinality))

    def fit(self, rows: dict[str, torch.Tensor]) -> None:
        items = rows["cat"][rows["label"] > 0, self.item_field]
        self.counts = torch.bincount(items, minlength=len(self.counts)).to(self.counts)

    def forward(self, batch):
        return torch.log1p(self.counts[batch["cat"][:, self.item_field]])


class RandomScores(RecModel):
    """score ~ U(0, 1), drawn anew on every call (from the trial's torch seed)."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()

    def fit(self, rows: dict[str, torch.Tensor]) -> None:
        return None

    def forward(self, batch):
        return torch.rand(batch["cat"].shape[0], device=batch["cat"].device)


def no_options(t, spec: DataSpec) -> dict:
    return {}


def baseline_card(name: str, title: str, build) -> ModelCard:
    """An implicit-task baseline: no options, fitted once on the training positives."""
    return ModelCard(name, title, "baseline", search_space=no_options, build=build, tasks=frozenset({"implicit"}),
                     requires=frozenset({"item"}), kind=ModelKind.BASELINE)


POP_CARD = baseline_card("pop", "Item popularity", Popularity)
RANDOM_CARD = baseline_card("random", "Random ranking", RandomScores)
