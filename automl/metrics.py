"""Evaluation metrics (scikit-learn), by task. Names are lower case, as in the leaderboard JSON."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import log_loss, mean_absolute_error, mean_squared_error, roc_auc_score

from automl.schema import MAXIMIZE, METRICS


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


def compute(task: str, y_true: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """Metrics for ``task`` from the model outputs (logits for ctr, ratings for rating).

    AUC is NaN when the rows hold a single class (it is undefined there).
    """
    if task == "ctr":
        p = sigmoid(np.asarray(outputs, dtype=np.float64))
        y = np.asarray(y_true, dtype=np.int64)
        auc = roc_auc_score(y, p) if 0 < y.sum() < len(y) else float("nan")
        return {"auc": float(auc), "logloss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))}
    y, r = np.asarray(y_true, dtype=np.float64), np.asarray(outputs, dtype=np.float64)
    return {"rmse": float(math.sqrt(mean_squared_error(y, r))), "mae": float(mean_absolute_error(y, r))}


def task_metrics(task: str) -> tuple[str, ...]:
    return METRICS[task]
