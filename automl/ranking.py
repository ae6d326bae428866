"""Top-K ranking metrics, and a model's scores for each held-out row against its candidates.

Scores come as matrices ``scores`` [U, 1 + C], a chunk of users at a time: column 0 the held-out
item of user row u, columns 1.. its C candidates; ``valid`` [U, C] marks the candidates that count
(False for padding and, in full-corpus ranking, for the user's other known items). Ties are ranked
pessimistically: the held-out item's rank is 1 + the number of valid candidates scoring >= it,
so a model that scores everything alike gets no credit.

With one held-out item per user, Recall@K (the share of a user's held-out items in the top K)
equals HR@K; both are reported under their usual names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from automl.negatives import ItemTable
from automl.train import predict

DEFAULT_K = 10
EXPANDED_ROWS = 65_536      # candidate rows built at once by the generic scorer


def pessimistic_ranks(scores: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """scores [U, 1 + C], valid [U, C] bool or None (all valid) -> int64 [U] ranks, 1 = best."""
    beaten = scores[:, 1:] >= scores[:, :1]
    if valid is not None:
        beaten &= valid
    return 1 + beaten.sum(axis=1)


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Share of users whose held-out item is in the top ``k``."""
    return float(np.mean(ranks <= k))


def ndcg(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k with one relevant item: 1 / log2(1 + rank) inside the top ``k``, else 0."""
    return float(np.mean(np.where(ranks <= k, 1.0 / np.log2(1.0 + ranks), 0.0)))


def mrr(ranks: np.ndarray) -> float:
    """Mean reciprocal rank (not truncated at K)."""
    return float(np.mean(1.0 / ranks))


def cutoffs(metric: str) -> tuple[int, ...]:
    """The K values to report: the leaderboard's default K and the study metric's own."""
    own = int(metric.split("@")[1]) if "@" in metric else DEFAULT_K
    return tuple(sorted({DEFAULT_K, own}))


def ranking_metrics(ranks: np.ndarray, ks: tuple[int, ...] = (DEFAULT_K,)) -> dict[str, float]:
    """``hr@k``, ``ndcg@k``, ``recall@k`` for each k in ``ks``, and ``mrr``."""
    out: dict[str, float] = {}
    for k in ks:
        hr = hit_rate(ranks, k)
        out.update({f"hr@{k}": hr, f"ndcg@{k}": ndcg(ranks, k), f"recall@{k}": hr})
    out["mrr"] = mrr(ranks)
    return out


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
    = every item 1..I-1. A model with ``item_vectors(item_codes) -> [I, d]`` and ``score_items(rows, vectors,
    candidates) -> [U, C]`` (the two-tower model) embeds every item once per call; any other model
    scores the candidate rows built by ``ItemTable.rows_for``."""
    model.eval()
    n_users = rows["label"].shape[0]
    if candidates is None:
        everything = torch.arange(1, table.n_items, device=rows["label"].device)
        candidates = everything.unsqueeze(0).expand(n_users, -1)
    width = candidates.shape[1]
    if hasattr(model, "item_vectors"):
        vectors = model.item_vectors(table.codes)
        def score(chunk, items):
            return model.score_items(chunk, vectors, items).double().cpu().numpy()
    else:
        def score(chunk, items):
            return predict(model, table.rows_for(chunk, items)).reshape(-1, width)
    step = max(1, EXPANDED_ROWS // max(width, 1))
    for s in range(0, n_users, step):
        yield s, score({k: v[s:s + step] for k, v in rows.items()}, candidates[s:s + step])
