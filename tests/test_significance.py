"""Intervals and paired tests of a comparison on one test set, against brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from automl.evaluation.significance import (
    auc_interval,
    delong,
    holm,
    mean_interval,
    midranks,
    paired_auc_test,
    paired_mean_test,
    smallest_detectable,
)


def brute_force_delong(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components from their definition, O(m·n) per model."""
    positive = labels == 1
    v10, v01 = [], []
    for s in scores:
        pos, neg = s[positive], s[~positive]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    return v10.mean(axis=1), np.cov(v10) / positive.sum() + np.cov(v01) / (~positive).sum()


def test_midranks_share_ties():
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0])
    assert midranks(x).tolist() == rankdata(x).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


@pytest.mark.parametrize("seed", range(4))
def test_fast_delong_equals_the_brute_force_definition(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random(300) < 0.3).astype(int)
    scores = np.vstack([labels + rng.normal(0, s, 300) for s in (0.8, 1.5, 3.0)])
    scores[2] = np.round(scores[2], 1)                   # ties within a model
    aucs, cov = delong(scores, labels)
    reference_aucs, reference_cov = brute_force_delong(scores, labels)
    np.testing.assert_allclose(aucs, reference_aucs, atol=1e-12)
    np.testing.assert_allclose(aucs, [roc_auc_score(labels, s) for s in scores], atol=1e-12)
    np.testing.assert_allclose(cov, reference_cov, atol=1e-12)


def test_the_paired_test_uses_the_covariance_of_the_two_aucs():
    rng = np.random.default_rng(7)
    labels = (rng.random(500) < 0.4).astype(int)
    a, b = labels + rng.normal(0, 1.0, 500), labels + rng.normal(0, 1.3, 500)
    aucs, cov = brute_force_delong(np.vstack([a, b]), labels)
    z = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    difference, p = paired_auc_test(a, b, labels)
    assert difference == pytest.approx(aucs[0] - aucs[1])
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))


def test_a_truly_better_model_is_separated_and_identical_ones_are_not():
    rng = np.random.default_rng(0)
    labels = (rng.random(4000) < 0.3).astype(int)
    good, poor = labels + rng.normal(0, 1.0, 4000), labels + rng.normal(0, 3.0, 4000)
    assert paired_auc_test(good, poor, labels)[1] < 1e-6
    assert paired_auc_test(good, good.copy(), labels) == (0.0, 1.0)
    twin = labels + rng.normal(0, 1.0, 4000)             # as good, other noise: no claim at 5%
    assert paired_auc_test(good, twin, labels)[1] > 0.05


def test_an_auc_interval_covers_the_auc_and_stays_within_zero_and_one():
    assert auc_interval(0.8, 0.0004) == pytest.approx((0.8 - 1.959964 * 0.02, 0.8 + 1.959964 * 0.02), abs=1e-6)
    assert auc_interval(0.99, 0.01)[1] == 1.0 and auc_interval(0.01, 0.01)[0] == 0.0


def test_mean_intervals_and_paired_means_by_hand():
    mean, low, high = mean_interval(np.array([1.0, 2.0, 3.0, 4.0]))
    half = 1.959964 * math.sqrt(5 / 3) / 2
    assert (mean, low, high) == pytest.approx((2.5, 2.5 - half, 2.5 + half), abs=1e-6)
    assert paired_mean_test([1, 2, 3, 4], [0, 1, 2, 3]) == (1.0, 0.0)        # the same gap on every row
    assert paired_mean_test([1, 2, 3], [1, 2, 3]) == (0.0, 1.0)
    difference, p = paired_mean_test([1.0, 2.0, 3.0, 5.0], [0.0, 2.0, 2.0, 4.0])
    d = np.array([1.0, 0.0, 1.0, 1.0])
    assert difference == 0.75 and p == pytest.approx(math.erfc(0.75 / (d.std(ddof=1) / 2) / math.sqrt(2)))


def test_holm_adjusts_by_hand():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


def test_the_smallest_detectable_difference_at_80_percent_power():
    assert smallest_detectable(0.01) == pytest.approx((1.959964 + 0.841621) * 0.01, abs=1e-6)
