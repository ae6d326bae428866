"""The schema's fields as slots of an encoded batch (``models.spec``), so a diagnostic can put
another row's value of one field into a row: a categorical column is one ``cat`` column, a
numeric column its ``num`` value, missing flag and ``num_bkt`` bucket, a sequence column its
``seq{j}`` tensor, the behavior history every ``hist*`` tensor."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from models.spec import DataSpec, column_name

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Field:
    """One schema column: ``slots`` are (batch key, column index, or None for the whole [B, ...] tensor)."""

    name: str
    slots: tuple[tuple[str, int | None], ...]


def history_name(spec: DataSpec) -> str:
    """The history's field name: its column (``column 'hist'`` -> "hist") or "history" when derived."""
    match = re.search(r"column '([^']+)'", spec.history.source) if spec.history else None
    return match.group(1) if match else "history"


def schema_fields(spec: DataSpec, batch: Batch) -> list[Field]:
    """Every field the batch holds, in the order categorical, numeric, sequence, history."""
    slots: dict[str, list[tuple[str, int | None]]] = {}
    for j, info in enumerate(spec.fields):
        slots.setdefault(info.name, []).append(("cat", j))
    for d, name in enumerate(spec.numeric):
        slots.setdefault(column_name(name), []).append(("num", d))
    for b, info in enumerate(spec.buckets):
        slots.setdefault(column_name(info.name), []).append(("num_bkt", b))
    for j, info in enumerate(spec.sequences):
        slots.setdefault(info.name, []).append((f"seq{j}", None))
    if spec.history is not None:
        keys = [k for k in batch if k.startswith("hist")]
        slots.setdefault(history_name(spec), []).extend((k, None) for k in sorted(keys))
    return [Field(name, tuple(s)) for name, s in slots.items()]


def with_values_of(rows: Batch, reference: Batch, fields: list[Field]) -> Batch:
    """``rows`` with each of ``fields`` taken from the same-position row of ``reference`` (same B)."""
    out = dict(rows)
    for field in fields:
        for key, column in field.slots:
            if column is None:
                out[key] = reference[key]
            else:
                if out[key] is rows[key]:
                    out[key] = rows[key].clone()
                out[key][:, column] = reference[key][:, column]
    return out


def take(batch: Batch, index: torch.Tensor) -> Batch:
    """The rows ``index`` of every tensor of ``batch``."""
    return {k: v[index] for k, v in batch.items()}


def concat(batches: list[Batch]) -> Batch:
    return {k: torch.cat([b[k] for b in batches]) for k in batches[0]}
