"""Evaluation metrics, by task, and the user grouping GAUC reads. Names are lower case, as in the
leaderboard JSON. AUC and logloss are computed here in numpy (the same values as scikit-learn's,
tested), because a trial computes them hundreds of times (every epoch, every ensemble candidate,
every permutation of the diagnostics) and scikit-learn's input checks cost more than the metric."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import mean_absolute_error, mean_squared_error

from automl.data.schema import MAXIMIZE
from automl.evaluation.calibration import expected_calibration_error
from models.spec import DataSpec


def direction(metric: str) -> str:
    return "maximize" if metric in MAXIMIZE else "minimize"


def is_better(metric: str, value: float, best: float | None) -> bool:
    if value is None or math.isnan(value):
        return False
    if best is None or math.isnan(best):
        return True
    return value > best if metric in MAXIMIZE else value < best


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))


def gauc(y_true: np.ndarray, scores: np.ndarray, users: np.ndarray) -> float:
    """Group AUC: the per-user AUC averaged with each user's impression count as weight; users
    whose rows hold one class are skipped (NaN when every user is)."""
    aucs, weights = per_user_auc(y_true, scores, users)
    return float((aucs * weights).sum() / weights.sum()) if len(aucs) else float("nan")


def per_user_auc(y_true: np.ndarray, scores: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(AUC [U], rows [U]) of each user whose rows hold both classes, in the order of the sorted user ids.
    Per-user AUCs come from the Mann-Whitney rank sum, tied scores sharing their average rank, all users in
    one sort."""
    y = np.asarray(y_true, dtype=np.int64)
    _, user = np.unique(np.asarray(users), return_inverse=True)
    order = np.lexsort((np.asarray(scores, dtype=np.float64), user))
    user, s, y = user[order], np.asarray(scores, dtype=np.float64)[order], y[order]
    position = np.arange(len(y))
    new_user = np.r_[True, user[1:] != user[:-1]]
    new_tie = new_user | np.r_[True, s[1:] != s[:-1]]
    tie = np.cumsum(new_tie) - 1
    first = np.flatnonzero(new_tie)
    last = np.r_[first[1:], len(y)] - 1
    user_first = np.maximum.accumulate(np.where(new_user, position, 0))
    rank = (first[tie] + last[tie]) / 2 - user_first + 1          # 1-based average rank in the user
    n_rows, n_pos = np.bincount(user), np.bincount(user, weights=y)
    n_neg, rank_sum = n_rows - n_pos, np.bincount(user, weights=rank * y)
    ok = (n_pos > 0) & (n_neg > 0)
    aucs = (rank_sum[ok] - n_pos[ok] * (n_pos[ok] + 1) / 2) / (n_pos[ok] * n_neg[ok])
    return aucs, n_rows[ok].astype(np.float64)


def auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC from the Mann-Whitney rank sum (tied scores share their average rank); NaN when the
    rows hold one class."""
    y = np.asarray(y_true) > 0.5
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def value(task: str, metric: str, y_true: np.ndarray, outputs: np.ndarray, users: np.ndarray | None = None) -> float:
    """One metric of ``compute`` alone (what a search over many candidates needs)."""
    if task == "ctr" and metric in ("auc", "logloss", "gauc"):
        if metric == "auc":
            return auc(y_true, outputs)
        p = sigmoid(np.asarray(outputs, dtype=np.float64))
        return logloss(y_true, p) if metric == "logloss" else gauc(np.asarray(y_true, dtype=np.int64), p, users)
    return compute(task, y_true, outputs, users)[metric]


def compute(task: str, y_true: np.ndarray, outputs: np.ndarray, users: np.ndarray | None = None) -> dict[str, float]:
    """Metrics for ``task`` from the model outputs (logits for ctr, ratings for rating): for ctr
    AUC, logloss and ECE (``automl.evaluation.calibration``), with ``users`` (the user id of each
    row) also GAUC.

    AUC is NaN when the rows hold a single class (it is undefined there).
    """
    if task == "ctr":
        p = sigmoid(np.asarray(outputs, dtype=np.float64))
        y = np.asarray(y_true, dtype=np.int64)
        out = {"auc": auc(y, p), "logloss": logloss(y, p), "ece": expected_calibration_error(y, p)}
        return out if users is None else {**out, "gauc": gauc(y, p, users)}
    y, r = np.asarray(y_true, dtype=np.float64), np.asarray(outputs, dtype=np.float64)
    return {"rmse": float(math.sqrt(mean_squared_error(y, r))), "mae": float(mean_absolute_error(y, r))}


def logloss(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7]."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def user_ids(batch: dict, spec: DataSpec) -> np.ndarray | None:
    """int64 [n]: each row's user code for GAUC, or None without a user column. Users unseen in
    training all share code 0, so each such row gets a group of its own (-1, -2, ...), which GAUC
    skips as one-class, instead of pooling strangers into one user."""
    if spec.user_field is None:
        return None
    ids = batch["cat"][:, spec.user_field]
    ids = (ids.cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)).astype(np.int64)
    unseen = ids == 0
    ids[unseen] = -1 - np.arange(unseen.sum())
    return ids
