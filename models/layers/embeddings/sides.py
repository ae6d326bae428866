"""Which categorical fields describe the user, which the item (``FieldInfo.side``)."""

from __future__ import annotations

from models.spec import DataSpec


def item_columns(spec: DataSpec) -> list[int]:
    """Indices into ``spec.fields`` of the item-side fields, the item id first."""
    return [spec.item_field] + [j for j, f in enumerate(spec.fields) if f.side == "item" and j != spec.item_field]


def user_columns(spec: DataSpec) -> list[int]:
    """Indices into ``spec.fields`` of the user-side fields, the user id first."""
    return [spec.user_field] + [j for j, f in enumerate(spec.fields) if f.side == "user" and j != spec.user_field]
