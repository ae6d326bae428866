"""Ranking categorical field pairs by what their cross tells about the label (training rows).

Score of a pair (a, b) = I(a×b; y) - max(I(a; y), I(b; y)): the mutual information the crossed
feature carries beyond its better half. Crossed values seen fewer than ``MIN_SUPPORT`` times are
pooled into one value, so huge id × id crosses cannot win by memorizing single rows. A numeric
column takes part through its quantile bucket (``num_bkt``), as field F + d: hour × device can be
crossed when hour is numeric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_SUPPORT = 5
MAX_ROWS = 200_000
MAX_FIELDS = 40
RATING_BINS = 10


def dense_codes(codes: np.ndarray) -> np.ndarray:
    """The same partition of the rows as ``codes``, numbered 0..K-1 (by hashing, not sorting)."""
    return pd.factorize(codes)[0]


def mutual_information(codes: np.ndarray, y: np.ndarray) -> float:
    """I(X; Y) in nats for int64 codes X [n] and small non-negative int classes Y [n], minus the
    Miller-Madow bias (|X|-1)(|Y|-1)/2n that would otherwise favor many-valued X."""
    x = dense_codes(codes)
    n_y = int(y.max()) + 1
    joint = np.bincount(x * n_y + y, minlength=(x.max() + 1) * n_y).reshape(-1, n_y) / len(y)
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    bias = x.max() * (n_y - 1) / (2 * len(y))
    return float((joint[nz] * np.log(joint[nz] / (px @ py)[nz])).sum() - bias)


def pool_rare(codes: np.ndarray) -> np.ndarray:
    """Replace values seen fewer than MIN_SUPPORT times by -1."""
    inverse = dense_codes(codes)
    return np.where(np.bincount(inverse)[inverse] >= MIN_SUPPORT, codes, -1)


def label_classes(labels: np.ndarray, task: str) -> np.ndarray:
    """0/1 for ctr; quantile bins of the rating otherwise."""
    if task == "ctr":
        return labels.astype(np.int64)
    edges = np.unique(np.quantile(labels, np.linspace(0, 1, RATING_BINS + 1)[1:-1]))
    return np.searchsorted(edges, labels, side="right").astype(np.int64)


def rank_pairs(cat: np.ndarray, labels: np.ndarray, task: str, seed: int = 0,
               buckets: np.ndarray | None = None) -> list[tuple[int, int]]:
    """[n, F] field codes + labels [n] -> field pairs (i < j), most informative first; pairs
    that add nothing are left out. ``buckets`` [n, N]: the numeric columns' bucket codes, ranked
    as fields F..F+N-1 (the index space of Wide & Deep's crosses). Uses at most MAX_ROWS rows and
    the first MAX_FIELDS fields (categorical ones first)."""
    if buckets is not None:
        cat = np.concatenate([cat, buckets.astype(cat.dtype)], axis=1)
    n, n_fields = cat.shape
    if n_fields < 2 or n == 0:
        return []
    if n > MAX_ROWS:
        rows = np.random.default_rng(seed).choice(n, MAX_ROWS, replace=False)
        cat, labels = cat[rows], labels[rows]
    y = label_classes(labels, task)
    n_fields = min(n_fields, MAX_FIELDS)
    single = [mutual_information(pool_rare(cat[:, f]), y) for f in range(n_fields)]
    width = cat[:, :n_fields].max(0).astype(np.int64) + 1
    scores = []
    for i in range(n_fields):
        for j in range(i + 1, n_fields):
            crossed = pool_rare(cat[:, i] * width[j] + cat[:, j])
            gain = mutual_information(crossed, y) - max(single[i], single[j])
            if gain > 0:
                scores.append((gain, i, j))
    return [(i, j) for _, i, j in sorted(scores, reverse=True)]
