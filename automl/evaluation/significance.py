"""How sure a comparison on one test set is: intervals of a metric and paired tests between models
scored on the same rows (or the same users), with Holm's correction when many pairs are tested.

- AUC: DeLong, DeLong & Clarke-Pearson (1988), in the O(n log n) form of Sun & Xu (2014): the AUCs
  of k models on the same rows and their k × k covariance from the midranks of their scores. A
  model's interval is AUC ± z·se; two models are compared by z = (A₁ − A₂) / se(A₁ − A₂), the
  covariance making the test paired.
- A mean of per-row (or per-user) values, such as logloss, squared or absolute error, GAUC's per-user
  AUC or a top-K hit: the mean ± z·sd/√n, and two models by the mean of their per-row differences
  (a paired z-test; the sets are hundreds of rows or more).
- Holm (1979): the step-down adjustment of a family of p-values, which keeps the chance of any false
  claim in the family at most the level.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.05             # tests and 95% intervals


def normal_quantile(level: float = LEVEL) -> float:
    """z with P(|Z| > z) = ``level`` for a standard normal Z (1.96 for 0.05)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - level / 2)


def two_sided_p(z: float) -> float:
    """P(|Z| ≥ |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2))


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` [n], ties sharing the mean of their ranks (float64 [n])."""
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    starts = np.r_[0, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1]
    ends = np.r_[starts[1:], len(x)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def delong(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(AUC [k], their covariance [k, k]) of k models' ``scores`` [k, n] on the same rows, ``labels``
    [n] in {0, 1} with both classes present (Sun & Xu's fast DeLong)."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positive = np.asarray(labels) == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's AUC needs both classes among the rows")
    k = scores.shape[0]
    v10, v01 = np.empty((k, m)), np.empty((k, n))
    for j in range(k):
        pos, neg = scores[j, positive], scores[j, ~positive]
        overall = midranks(np.r_[pos, neg])
        v10[j] = (overall[:m] - midranks(pos)) / n         # per positive: share of negatives ranked below it
        v01[j] = 1.0 - (overall[m:] - midranks(neg)) / m   # per negative: share of positives ranked above it
    aucs = v10.mean(axis=1)
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


def auc_interval(auc: float, variance: float, level: float = LEVEL) -> tuple[float, float]:
    """AUC ± z·se, kept within [0, 1]."""
    half = normal_quantile(level) * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def paired_auc_test(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(AUC(a) − AUC(b), two-sided p) of DeLong's paired test of two models' scores on the same rows."""
    aucs, cov = delong(np.vstack([a, b]), labels)
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    difference = float(aucs[0] - aucs[1])
    if variance <= 0:
        return difference, 1.0 if difference == 0 else 0.0
    return difference, two_sided_p(difference / math.sqrt(variance))


def mean_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high) of per-row values [n]: the mean ± z·sd/√n."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    half = normal_quantile(level) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def paired_mean_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean(a − b), two-sided p) of the paired z-test on per-row values of two models (same rows, same order)."""
    differences = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mean = float(differences.mean())
    if len(differences) < 2:
        return mean, 1.0
    se = float(differences.std(ddof=1)) / math.sqrt(len(differences))
    if se == 0:
        return mean, 1.0 if mean == 0 else 0.0
    return mean, two_sided_p(mean / se)


def holm(p_values: list[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given: the i-th smallest p times (m − i + 1), made
    non-decreasing in that order and capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def smallest_detectable(se_difference: float, level: float = LEVEL, power: float = 0.8) -> float:
    """The difference a two-sided test at ``level`` detects with ``power`` given the standard error of
    the difference: (z_{1−level/2} + z_{power}) · se."""
    from statistics import NormalDist

    return (normal_quantile(level) + NormalDist().inv_cdf(power)) * se_difference
