"""Rows for items a user did not pick, on the training device: the per-epoch training negatives of
the implicit task and the candidate rows it is evaluated on.

A row made for item ``j`` from a row of user ``u`` keeps every user-side and context input of
``u``'s row (``num``, ``num_bkt``, sequences, behavior history and the categorical fields whose
``FieldInfo.side`` is not "item") and takes ``j``'s item-side categorical fields from the item
table, built on the training rows. Numeric and sequence columns carry no side, so they stay
with the row (the same for the positive and its negatives: uninformative, never leaking).
"""

from __future__ import annotations

import torch

from models.layers.embeddings.sides import item_columns
from models.spec import DataSpec

MAX_ROUNDS = 20     # redraws of negatives that hit a positive; a user who touched every item keeps a few


class ItemTable:
    """``codes`` [I, len(columns)] int64: each item's item-side field codes (row 0, the unknown
    item, all 0), read from the last training row of the item (the fields are item-constant)."""

    def __init__(self, spec: DataSpec, train_cat: torch.Tensor):
        self.columns = item_columns(spec)
        self.n_items = spec.fields[spec.item_field].cardinality
        items = train_cat[:, spec.item_field]
        rows = torch.arange(len(items), device=items.device)
        last = torch.full((self.n_items,), -1, dtype=torch.long, device=items.device)
        last = last.scatter_reduce(0, items, rows, reduce="amax")
        self.codes = torch.zeros((self.n_items, len(self.columns)), dtype=torch.long, device=items.device)
        known = last >= 0
        self.codes[known] = train_cat[last[known]][:, self.columns]

    def rows_for(self, rows: dict[str, torch.Tensor], items: torch.Tensor) -> dict[str, torch.Tensor]:
        """``rows`` (B rows) repeated for ``items`` [B, C] -> B*C rows, row b*C + c showing
        item items[b, c] to row b's user and context; labels 0."""
        width = items.shape[1]
        out = {k: v.repeat_interleave(width, dim=0) for k, v in rows.items()}
        cat = out["cat"].clone()
        cat[:, self.columns] = self.codes[items.reshape(-1)]
        out["cat"], out["label"] = cat, torch.zeros_like(out["label"])
        return out


class NegativeSampler:
    """Per epoch, ``ratio`` uniform negatives per training positive, never among that user's
    training positives (redrawn in vectorised rounds). ``positives`` is the training split."""

    def __init__(self, spec: DataSpec, positives: dict[str, torch.Tensor], table: ItemTable, seed: int = 0):
        self.positives, self.table = positives, table
        cat = positives["cat"]
        self.users = cat[:, spec.user_field]
        self.keys = torch.unique(self.users * table.n_items + cat[:, spec.item_field])   # sorted
        self.generator = torch.Generator(device=cat.device).manual_seed(seed)

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """bool, same shape as ``items``: (user, item) is a training positive."""
        query = users * self.table.n_items + items
        pos = torch.searchsorted(self.keys, query).clamp(max=len(self.keys) - 1)
        return self.keys[pos] == query

    def sample(self, ratio: int) -> torch.Tensor:
        """int64 [P, ratio] negative item codes in 1..I-1 for each training positive."""
        users = self.users.unsqueeze(1).expand(-1, ratio)
        items = torch.randint(1, self.table.n_items, users.shape, generator=self.generator, device=users.device)
        for _ in range(MAX_ROUNDS):
            clash = self.is_positive(users, items)
            if not clash.any():
                break
            items[clash] = torch.randint(1, self.table.n_items, (int(clash.sum()),), generator=self.generator,
                                         device=users.device)
        return items

    def epoch_rows(self, ratio: int) -> dict[str, torch.Tensor]:
        """The positives followed by their ``ratio`` negatives each (label 1, then 0)."""
        if ratio == 0:
            return self.positives
        negatives = self.table.rows_for(self.positives, self.sample(ratio))
        return {k: torch.cat([v, negatives[k]]) for k, v in self.positives.items()}
