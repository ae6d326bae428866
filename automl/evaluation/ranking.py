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


def gains(ranks: np.ndarray, metric: str) -> np.ndarray:
    """float64 [U]: each user row's share of ``metric`` (their mean is the metric): for ``hr@k`` and
    ``recall@k`` 1 inside the top k, for ``ndcg@k`` 1 / log2(1 + rank) inside the top k (one relevant
    item), for ``mrr`` 1 / rank (not truncated at K)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if metric == "mrr":
        return 1.0 / ranks
    name, k = metric.split("@")
    inside = ranks <= int(k)
    if name == "ndcg":
        return np.where(inside, 1.0 / np.log2(1.0 + np.where(inside, ranks, 1.0)), 0.0)
    return inside.astype(np.float64)


def cutoffs(metric: str) -> tuple[int, ...]:
    """The K values to report: the leaderboard's default K and the study metric's own."""
    own = int(metric.split("@")[1]) if "@" in metric else DEFAULT_K
    return tuple(sorted({DEFAULT_K, own}))


def ranking_metrics(ranks: np.ndarray, ks: tuple[int, ...] = (DEFAULT_K,)) -> dict[str, float]:
    """``hr@k``, ``ndcg@k``, ``recall@k`` for each k in ``ks``, and ``mrr``."""
    out: dict[str, float] = {}
    for k in ks:
        hr = float(np.mean(gains(ranks, f"hr@{k}")))
        out.update({f"hr@{k}": hr, f"ndcg@{k}": float(np.mean(gains(ranks, f"ndcg@{k}"))), f"recall@{k}": hr})
    out["mrr"] = float(np.mean(gains(ranks, "mrr")))
    return out


def compared_metrics(metric: str) -> tuple[str, ...]:
    """The ranking metrics two models are compared on: the study's (recall@k read as hr@k, the same
    with one held-out item), NDCG and HR at its K, and MRR."""
    k = int(metric.split("@")[1]) if "@" in metric else DEFAULT_K
    first = f"hr@{k}" if metric.startswith("recall@") else metric
    return tuple(dict.fromkeys((first, f"ndcg@{k}", f"hr@{k}", "mrr")))
