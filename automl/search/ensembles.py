"""The study's ensemble kept up to date: a model's best trial stores its validation and test
outputs (``cb_best_outputs``; the verdict, ``automl.search.verdicts``, reads them too, of every task), and once Optuna is told of that trial its worker rebuilds the
ensemble from them (``automl.evaluation.ensemble.select``) and stores it (``cb_ensembles``); every
worker rebuilds it once more when the trials are done (for a best whose worker died before)."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from automl.evaluation.comparison import COMPARED
from automl.evaluation.ensemble import ENSEMBLE_TASKS, SPLITS, Ensemble, select, targets
from automl.features.encode import EncodedData
from storage import Store
from storage.tables import StudyRow

MAX_OUTPUT_ROWS = 5_000_000    # a trial's outputs are kept only when its val + test rows fit (float32)


def keeps_outputs(task: str, outputs: dict[str, np.ndarray] | None) -> bool:
    """Whether a trial's outputs are stored for the verdict and ensembles."""
    return (task in COMPARED and outputs is not None
            and sum(len(v) for v in outputs.values()) <= MAX_OUTPUT_ROWS)


def encode_outputs(outputs: dict[str, np.ndarray]) -> bytes:
    """Every output set of a trial ("val", "test", any other the task keeps), as float32."""
    return save_safetensors({s: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
                             for s, v in outputs.items()})


def decode_outputs(blob: bytes) -> dict[str, np.ndarray]:
    return {s: t.double().numpy() for s, t in load_safetensors(blob).items()}


def refresh(store: Store, study: StudyRow, data: EncodedData) -> Ensemble | None:
    """Rebuild and store the study's ensemble from its models' stored best outputs (two at least);
    not stored when another worker changed those outputs meanwhile (it rebuilds after)."""
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
    store.save_ensemble(study.id, json.dumps(asdict(ensemble)), members={r.model: r.trial_number for r in rows})
    return ensemble


def stored(store: Store, study_id: int) -> Ensemble | None:
    row = store.ensemble(study_id)
    return Ensemble(**json.loads(row.result_json)) if row else None
