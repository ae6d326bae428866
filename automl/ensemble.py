"""Ensembles of a study's models: greedy ensemble selection with replacement (Caruana et al.,
2004) over the best trial of each model, chosen on the validation split only.

Members are averaged on the probability scale for ctr (the blend's logit is what gets scored) and
on the rating scale for rating. Selection starts from the best single model; each round adds,
again if it helps most, the model whose addition gives the best validation metric; the best bag
seen is kept, and a model's weight is its share of that bag. The test split is scored once, for
reading. Implicit studies get none: their outputs are candidate scores on each model's own scale.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from automl import metrics
from automl.features import EncodedData
from automl.train import user_ids
from storage import Store
from storage.tables import StudyRow

ENSEMBLE_TASKS = ("ctr", "rating")
ROUNDS = 20
MAX_OUTPUT_ROWS = 5_000_000    # a trial's outputs are kept only when its val + test rows fit (float32)
SELECTION_ROWS = 200_000       # beyond this, selection scores a fixed sample of the validation rows
SPLITS = ("val", "test")


@dataclass
class Ensemble:
    weights: dict[str, float]          # model -> its share of the bag
    trials: dict[str, int]             # model -> the trial whose outputs it contributes
    val: dict[str, float]
    test: dict[str, float]
    rounds: int                        # the bag size that was kept


def keeps_outputs(task: str, outputs: dict[str, np.ndarray] | None) -> bool:
    """Whether a trial's outputs are stored for ensembles."""
    return (task in ENSEMBLE_TASKS and outputs is not None
            and sum(len(outputs[s]) for s in SPLITS) <= MAX_OUTPUT_ROWS)


def encode_outputs(outputs: dict[str, np.ndarray]) -> bytes:
    return save_safetensors({s: torch.from_numpy(np.ascontiguousarray(outputs[s], dtype=np.float32))
                             for s in SPLITS})


def decode_outputs(blob: bytes) -> dict[str, np.ndarray]:
    return {s: t.double().numpy() for s, t in load_safetensors(blob).items()}


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
        value = metrics.compute(task, labels["val"][rows], from_blend_scale(task, mean), sample_users)[metric]
        return -np.inf if np.isnan(value) else sign * value

    bag = greedy_bag({name: v[rows] for name, v in val.items()}, score, rounds)

    def scored(split: str) -> dict[str, float]:
        blended = sum(count * to_blend_scale(task, members[name][split]) for name, count in bag.items())
        return metrics.compute(task, labels[split], from_blend_scale(task, blended / bag.total()), users[split])

    return bag, scored("val"), scored("test")


def targets(data: EncodedData) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None]]:
    """(labels, users for GAUC) of the validation and test splits, what ``select`` scores against."""
    return ({s: data.splits[s]["label"].cpu().numpy().astype(np.float64) for s in SPLITS},
            {s: user_ids(data.splits[s], data.spec) for s in SPLITS})


def refresh(store: Store, study: StudyRow, data: EncodedData) -> Ensemble | None:
    """Rebuild and store the study's ensemble from its models' stored best outputs (two at least)."""
    if data.spec.task not in ENSEMBLE_TASKS:
        return None
    labels, users = targets(data)
    rows = store.best_outputs(study.id)
    members = {r.model: decode_outputs(r.outputs) for r in rows}
    members = {name: m for name, m in members.items() if all(len(m[s]) == len(labels[s]) for s in SPLITS)}
    if len(members) < 2:
        return None
    bag, val, test = select(data.spec.task, study.metric, members, labels, users)
    ensemble = Ensemble(weights={n: c / bag.total() for n, c in bag.most_common()},
                        trials={r.model: r.trial_number for r in rows if r.model in bag},
                        val=val, test=test, rounds=bag.total())
    store.save_ensemble(study.id, json.dumps(asdict(ensemble)))
    return ensemble


def stored(store: Store, study_id: int) -> Ensemble | None:
    row = store.ensemble(study_id)
    return Ensemble(**json.loads(row.result_json)) if row else None
