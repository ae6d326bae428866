"""Prequential evaluation (the protocol of river's ``evaluate.progressive_val_score``, by window):
each window of the stream is scored with its labels hidden, judged, and only then revealed to the
learner, which may update before the next window.

Calibration follows the same rule for every learner: a window's logits are mapped by the Platt
fit on the newest window already revealed (at the start, the offline validation rows), from the
outputs the learner gave it before learning from it; a learner that holds out a window of its own
(``retrain``) calibrates on it instead.

Metrics per window and overall (pooled over the reported windows): AUC, calibrated logloss and
NDCG@10 within each (user, window) set of logged impressions (sets without a click or with one
row are skipped; the mean over the sets that count).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Protocol

import numpy as np
import torch

from automl.evaluation.calibration import Platt, fit_platt
from automl.evaluation.metrics import auc, logloss, sigmoid
from automl.online.stream import Log

NDCG_K = 10

class Halt(Protocol):
    """Asked between windows (``automl.search.budget.Halt`` is the worker's)."""

    def __call__(self) -> str | None:
        """The reason to end the replay now, or None."""

    def seconds_left(self) -> float | None:
        """Seconds before the replay must end (None: no deadline)."""


class Halted(Exception):
    """A replay ended early (its study's stop was asked or its time ran out); the message is the reason."""


def check(halt: Halt | None) -> None:
    """Raise Halted when ``halt`` gives a reason."""
    reason = halt() if halt is not None else None
    if reason:
        raise Halted(reason)


class Learner(Protocol):
    """What the replay drives: ``score`` rows whose labels are hidden (NaN), then ``learn`` once
    rows ``0:end`` of the log are revealed."""

    def score(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        """float64 [n] logits."""

    def learn(self, log: Log, start: int, end: int) -> None:
        """Rows ``start:end`` (the window just scored) and every earlier row are revealed."""

    def held_out_calibration(self) -> Platt | None:
        """The calibration the learner fitted on rows it did not train on, if it has one."""


def hidden_labels(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch with its labels replaced by NaN: what a learner may see while scoring."""
    return {**batch, "label": torch.full_like(batch["label"], float("nan"))}


def grouped_ndcg(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int = NDCG_K) -> tuple[float, int]:
    """(summed NDCG@k over the groups that count, how many count): a group counts when it has two
    rows or more and at least one click. Ties in the scores are ranked pessimistically (a click
    after the unclicked rows that score the same)."""
    order = np.lexsort((labels, -scores, groups))          # by group, best score first, clicks last on ties
    g, y = groups[order], labels[order]
    new = np.r_[True, g[1:] != g[:-1]]
    first = np.flatnonzero(new)
    size = np.diff(np.r_[first, len(g)])
    rank = np.arange(len(g)) - np.repeat(first, size)                # 0-based rank inside the group
    gain = np.where(rank < k, y / np.log2(rank + 2.0), 0.0)
    dcg = np.add.reduceat(gain, first)
    clicks = np.add.reduceat(y, first)
    ideal = np.array([np.sum(1.0 / np.log2(np.arange(min(int(c), k)) + 2.0)) for c in clicks])
    counts = (size >= 2) & (clicks > 0)
    return float(np.sum(dcg[counts] / ideal[counts])), int(counts.sum())


@dataclass
class Replay:
    """What a replay found: per window its metrics, and the pooled outputs of the windows it reports."""

    windows: list[dict] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)        # calibrated
    ndcg_sum: float = 0.0
    ndcg_sets: int = 0
    seconds: float = 0.0

    def overall(self) -> dict[str, float | None]:
        y, z = np.concatenate(self.labels), np.concatenate(self.logits)
        return {"auc": auc(y, z), "logloss": logloss(y, sigmoid(z)),
                f"ndcg@{NDCG_K}": self.ndcg_sum / self.ndcg_sets if self.ndcg_sets else None,
                "rows": len(y), "seconds_per_window": self.seconds / max(len(self.windows), 1)}


def replay(learner: Learner, log: Log, windows: range, calibration: Platt, reported: range | None = None,
           halt: Halt | None = None) -> Replay:
    """Run ``learner`` prequentially over the stream ``windows`` (consecutive, from the first one
    the learner has not seen); metrics are kept for the ``reported`` windows (default: all). A
    learner with ``parts`` > 1 (DRN's update window) scores and learns each window in that many
    consecutive parts; its metrics are still the window's. ``halt`` is asked before each part
    (raising Halted)."""
    reported = windows if reported is None else reported
    parts = getattr(learner, "parts", 1)
    result = Replay()
    for w in windows:
        start, end = log.span(w)
        tick = time.perf_counter()
        raw, calibrated = np.empty(end - start), np.empty(end - start)
        labels = log.rows["label"][start:end].cpu().numpy().astype(np.float64)
        cuts = np.linspace(start, end, min(parts, end - start) + 1).round().astype(int)
        for a, b in pairwise(cuts):
            check(halt)
            raw[a - start:b - start] = learner.score(hidden_labels(log.take(a, b)))
            calibrated[a - start:b - start] = calibration.apply(raw[a - start:b - start])
            learner.learn(log, a, b)
            part = labels[a - start:b - start]
            calibration = learner.held_out_calibration() or (
                fit_platt(raw[a - start:b - start], part) if 0 < part.sum() < len(part) else calibration)
        seconds = time.perf_counter() - tick
        if w not in reported:
            continue
        ndcg_sum, sets = (grouped_ndcg(labels, raw, log.users[start:end]) if log.users is not None else (0.0, 0))
        result.windows.append({"window": w, "start": float(log.starts[w]), "rows": end - start,
                               "auc": auc(labels, raw), "logloss": logloss(labels, sigmoid(calibrated)),
                               f"ndcg@{NDCG_K}": ndcg_sum / sets if sets else None, "seconds": seconds})
        result.labels.append(labels)
        result.logits.append(calibrated)
        result.ndcg_sum, result.ndcg_sets = result.ndcg_sum + ndcg_sum, result.ndcg_sets + sets
        result.seconds += seconds
    return result


def finite_or_none(value: float | None) -> float | None:
    """JSON-ready: NaN becomes None."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
