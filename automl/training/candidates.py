"""A model's scores for each held-out row against its candidates, a chunk of users at a time,
turned into the held-out item's rank (``automl.evaluation.ranking`` reads the ranks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from automl.evaluation.ranking import pessimistic_ranks
from automl.features.negatives import ItemTable
from automl.training.predict import predict

EXPANDED_ROWS = 65_536      # candidate rows built at once by the generic scorer


def held_out_ranks(model, rows: dict[str, torch.Tensor], table: ItemTable, candidates: torch.Tensor | None,
                   valid: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """float64 [U]: the pessimistic rank of each user row's held-out item among its candidates
    (``valid(start, stop)`` -> bool [stop - start, C] marks those that count), NaN for a row with a
    score that is not finite. Scored in chunks of users, so [U, C] never exists at once (the full
    corpus of a large catalogue would not fit)."""
    held_out = predict(model, rows)
    ranks = np.empty(len(held_out))
    for start, scores in scored_chunks(model, rows, table, candidates):
        stop = start + len(scores)
        both = np.c_[held_out[start:stop], scores]
        ranks[start:stop] = np.where(np.isfinite(both).all(axis=1), pessimistic_ranks(both, valid(start, stop)),
                                     np.nan)
    return ranks


def candidate_width(table: ItemTable, candidates: torch.Tensor | None) -> int:
    """C: candidates per user row."""
    return table.n_items - 1 if candidates is None else candidates.shape[1]


@torch.inference_mode()
def scored_chunks(model, rows: dict[str, torch.Tensor], table: ItemTable,
                  candidates: torch.Tensor | None) -> Iterator[tuple[int, np.ndarray]]:
    """(first user row, float64 [n, C] scores of those user rows with each of their candidate items)
    for chunks of about EXPANDED_ROWS (user, candidate) pairs; ``candidates`` [U, C] item codes, None
    = every item 1..I-1. A model that ``scores_items_in_bulk`` (``models.base.RecModel``: the
    two-tower model) embeds every item once per call; any other model scores the candidate rows
    built by ``ItemTable.rows_for``."""
    model.eval()
    n_users = rows["label"].shape[0]
    if candidates is None:
        everything = torch.arange(1, table.n_items, device=rows["label"].device)
        candidates = everything.unsqueeze(0).expand(n_users, -1)
    width = candidates.shape[1]
    if model.scores_items_in_bulk:
        vectors = model.item_vectors(table.codes)
        def score(chunk, items):
            return model.score_items(chunk, vectors, items).double().cpu().numpy()
    else:
        def score(chunk, items):
            return predict(model, table.rows_for(chunk, items)).reshape(-1, width)
    step = max(1, EXPANDED_ROWS // max(width, 1))
    for s in range(0, n_users, step):
        yield s, score({k: v[s:s + step] for k, v in rows.items()}, candidates[s:s + step])
