"""Top-K ranking metrics from the rank of each held-out item among its candidates.

Scores come as matrices ``scores`` [U, 1 + C]: column 0 the held-out item of user row u, columns
1.. its C candidates; ``valid`` [U, C] marks the candidates that count (False for padding and, in
full-corpus ranking, for the user's other known items). Ties are ranked
pessimistically: the held-out item's rank is 1 + the number of valid candidates scoring >= it,
so a model that scores everything alike gets no credit.

With one held-out item per user, Recall@K (the share of a user's held-out items in the top K)
equals HR@K; both are reported under their usual names.
"""

from __future__ import annotations

import numpy as np

DEFAULT_K = 10


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
