"""Ensembles of a study's models: greedy ensemble selection with replacement (Caruana et al.,
2004) over the best trial of each model, chosen on the validation split only.

Members are averaged on the probability scale for ctr (the blend's logit is what gets scored) and
on the rating scale for rating. Selection starts from the best single model; each round adds,
again if it helps most, the model whose addition gives the best validation metric; the best bag
seen is kept, and a model's weight is its share of that bag. The test split is scored once, for
reading. Implicit studies get none: their outputs are candidate scores on each model's own scale.
Storing the members' outputs and the result is ``automl.search.ensembles``'s job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from automl.evaluation import metrics
from automl.features.encode import EncodedData

ENSEMBLE_TASKS = ("ctr", "rating")
ROUNDS = 20
SELECTION_ROWS = 200_000       # beyond this, selection scores a fixed sample of the validation rows
SPLITS = ("val", "test")


@dataclass
class Ensemble:
    weights: dict[str, float]          # model -> its share of the bag
    trials: dict[str, int]             # model -> the trial whose outputs it contributes
    val: dict[str, float]
    test: dict[str, float]
    rounds: int                        # the bag size that was kept


def to_blend_scale(task: str, outputs: np.ndarray) -> np.ndarray:
    """Model outputs -> the scale members are averaged on (ctr: probabilities; rating: ratings)."""
    return metrics.sigmoid(outputs) if task == "ctr" else outputs


def from_blend_scale(task: str, blended: np.ndarray) -> np.ndarray:
    """An average on the blend scale -> outputs as the metrics read them (ctr: logits)."""
    if task != "ctr":
        return blended
    p = np.clip(blended, 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def greedy_bag(candidates: dict[str, np.ndarray], score: Callable[[np.ndarray], float],
               rounds: int = ROUNDS) -> Counter:
    """Caruana's selection with replacement on ``candidates`` (name -> [n] on the blend scale),
    ``score(mean)`` higher is better; -> the best bag seen (name -> times chosen)."""
    bag: Counter = Counter()
    total = np.zeros_like(next(iter(candidates.values())))
    best_bag, best_score = Counter(), -np.inf
    for size in range(1, rounds + 1):
        scores = {name: score((total + values) / size) for name, values in candidates.items()}
        name = max(scores, key=lambda n: (scores[n], -list(candidates).index(n)))
        bag[name] += 1
        total = total + candidates[name]
        if scores[name] > best_score or not best_bag:       # the first pick stands even if unscorable
            best_bag, best_score = Counter(bag), scores[name]
    return best_bag


def select(task: str, metric: str, members: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray],
           users: dict[str, np.ndarray | None], rounds: int = ROUNDS, seed: int = 0) -> tuple[Counter, dict, dict]:
    """(bag, validation metrics, test metrics) for ``members`` (model -> split -> outputs)."""
    val = {name: to_blend_scale(task, m["val"]) for name, m in members.items()}
    rows = np.arange(len(labels["val"]))
    if len(rows) > SELECTION_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, SELECTION_ROWS, replace=False))
    sample_users = None if users["val"] is None else users["val"][rows]
    sign = 1.0 if metrics.direction(metric) == "maximize" else -1.0

    def score(mean: np.ndarray) -> float:
        value = metrics.value(task, metric, labels["val"][rows], from_blend_scale(task, mean), sample_users)
        return -np.inf if np.isnan(value) else sign * value

    bag = greedy_bag({name: v[rows] for name, v in val.items()}, score, rounds)

    def scored(split: str) -> dict[str, float]:
        blended = sum(count * to_blend_scale(task, members[name][split]) for name, count in bag.items())
        return metrics.compute(task, labels[split], from_blend_scale(task, blended / bag.total()), users[split])

    return bag, scored("val"), scored("test")


def targets(data: EncodedData) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None]]:
    """(labels, users for GAUC) of the validation and test splits, what ``select`` scores against."""
    return ({s: data.splits[s]["label"].cpu().numpy().astype(np.float64) for s in SPLITS},
            {s: metrics.user_ids(data.splits[s], data.spec) for s in SPLITS})
