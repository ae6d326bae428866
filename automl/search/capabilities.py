"""Which models a dataset can run: the inputs its schema offers, matched with each card's needs."""

from __future__ import annotations

from automl.data.schema import Schema
from models import REGISTRY


def schema_inputs(schema: Schema) -> set[str]:
    """The inputs a dataset offers, in the vocabulary of ``ModelCard.requires``."""
    have = set()
    if schema.names("user", "item", "categorical", "numeric", "sequence"):
        have.add("fields")
    for role in ("user", "item", "sequence", "timestamp"):
        if schema.names(role):
            have.add(role)
    if {"user", "item", "timestamp"} <= have or schema.item_history in schema.names("sequence"):
        have.add("history")
    return have


def model_availability(schema: Schema, task: str | None = None) -> dict[str, str | None]:
    """Model name -> None when it can run on the dataset, else the reason it cannot."""
    have = schema_inputs(schema)
    return {name: card.unavailable_reason(task or schema.task, have) for name, card in REGISTRY.items()}
