"""Calibrated click probabilities: Platt scaling of a model's logits, fitted on validation rows.

p = sigmoid(a · z + b) with a > 0, so the ranking (AUC, GAUC) never changes; a, b minimise the
logloss of the validation rows (Platt, 1999; with b = 0 it is temperature scaling, Guo et al.,
2017). To keep the reported validation logloss honest the fit is cross-fitted: each half of the
validation rows is calibrated by the fit on the other half; the fit on all of them is what the
test rows and every later prediction get. When the cross-fitted logloss is no better than the
model's own (few validation rows, a model that is calibrated already), the identity is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

ECE_BINS = 15
LOGIT_CLIP = 50.0


@dataclass(frozen=True)
class Platt:
    scale: float = 1.0       # a > 0
    shift: float = 0.0       # b

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """float64 [n] logits -> calibrated logits [n]."""
        return self.scale * np.clip(np.asarray(logits, dtype=np.float64), -LOGIT_CLIP, LOGIT_CLIP) + self.shift


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> Platt:
    """The (a, b) that minimise the mean logloss of sigmoid(a z + b) on these rows; the identity
    when they hold a single class (nothing to fit)."""
    z = np.clip(np.asarray(logits, dtype=np.float64), -LOGIT_CLIP, LOGIT_CLIP)
    y = np.asarray(labels, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        return Platt()

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a = np.exp(theta[0])
        s = a * z + theta[1]
        loss = np.mean(np.logaddexp(0.0, s) - y * s)            # -log-likelihood of sigmoid(s)
        residual = 1.0 / (1.0 + np.exp(-s)) - y
        return loss, np.array([np.mean(residual * z) * a, np.mean(residual)])

    fit = minimize(loss_and_grad, np.zeros(2), jac=True, method="L-BFGS-B",
                   bounds=[(-10.0, 5.0), (-LOGIT_CLIP, LOGIT_CLIP)])
    return Platt(float(np.exp(fit.x[0])), float(fit.x[1]))


def mean_logloss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of sigmoid(logits), computed stably on the logit scale."""
    z = np.clip(np.asarray(logits, dtype=np.float64), -LOGIT_CLIP, LOGIT_CLIP)
    return float(np.mean(np.logaddexp(0.0, z) - np.asarray(labels, dtype=np.float64) * z))


def cross_fitted(logits: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, Platt]:
    """(each row's logit calibrated by the fit on the other half of the rows [n], the fit on all
    rows); the logits unchanged and the identity when calibrating does not help on held-out halves."""
    n = len(labels)
    half = np.zeros(n, dtype=bool)
    half[np.random.default_rng(seed).permutation(n)[: n // 2]] = True
    calibrated = np.empty(n, dtype=np.float64)
    for mine in (half, ~half):
        calibrated[mine] = fit_platt(logits[~mine], labels[~mine]).apply(logits[mine])
    if mean_logloss(calibrated, labels) >= mean_logloss(logits, labels):
        return np.asarray(logits, dtype=np.float64), Platt()
    return calibrated, fit_platt(logits, labels)


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the row-weighted mean |observed rate − mean probability| over ``bins`` equal-width
    probability bins (Naeini et al., 2015)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, weights=y, minlength=bins) - np.bincount(which, weights=p, minlength=bins))
    return float(gap.sum() / count.sum())
