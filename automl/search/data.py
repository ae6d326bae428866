"""A study's data: its dataset split, encoded (or read from the encoded cache) and described for
its models. Workers, reseeds, diagnostics, scoring and recommendations all load it from here."""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

import torch

from automl.data.datasets import get_dataset
from automl.features.encode import EncodedData, EncodingOptions
from automl.features.prepare import prepared_data
from automl.features.splits import DEFAULT_FRACTIONS
from automl.online.stream import OnlineSettings
from automl.search.config import StudyConfig
from automl.training.device import MEMORY_SETTING, data_budget
from models import REGISTRY
from models.spec import column_name
from storage import Store
from storage.tables import StudyRow


def reads_ranked_pairs(models: list[str]) -> bool:
    """Whether one of ``models`` crosses the field pairs ranked on the training rows (the ranking
    is computed only then)."""
    return any("ranked" in REGISTRY[m].pair_sources for m in models)


def placed(data: EncodedData, device: torch.device, budget: float) -> EncodedData:
    """``data`` on ``device`` within ``budget`` bytes (``EncodedData.to``); says on stderr (the
    worker's log) which rows stream from host memory, e.g. "training rows stream from host memory:
    3.2 GB of encoded splits > device budget 2.0 GB"."""
    data = data.to(device, budget)
    if data.streamed:
        which = "training" if data.streamed == ("train",) else "training, validation and test"
        print(f"{which} rows stream from host memory: {data.nbytes() / 1e9:.1f} GB of encoded splits > device "
              f"budget {budget / 1e9:.1f} GB ({MEMORY_SETTING} sets it, in MB)", file=sys.stderr, flush=True)
    return data


def study_data(store: Store, study_row: StudyRow, config: StudyConfig, home: Path, device: torch.device) -> EncodedData:
    """The study's split and encoded tensors (from the cache when present) on ``device``, with the
    field pairs its crossing models read: ranked on the training rows, the user's and the diagnosed.
    ctr and rating splits over the device's ``data_budget`` stay in host memory and stream to it
    batch by batch; implicit and online studies keep every split on the device (their negative
    sampling, candidate ranking and replayed log index the splits there)."""
    online = None if config.online is None else OnlineSettings.from_dict(config.online)
    data = prepared_data(store, get_dataset(store, study_row.dataset_id), home,
                         EncodingOptions(open_vocabulary=online is not None), task=study_row.task,
                         candidates=config.candidates, ranked_pairs=reads_ranked_pairs(config.models),
                         fractions=DEFAULT_FRACTIONS if online is None else online.fractions)
    names = [f.name for f in data.spec.fields] + [column_name(b.name) for b in data.spec.buckets]

    def indices(pairs: list[list[str]]) -> tuple[tuple[int, int], ...]:
        """Column-name pairs -> index pairs of Wide & Deep's crosses (a numeric column: F + its bucket's index)."""
        return tuple(tuple(sorted((names.index(a), names.index(b)))) for a, b in pairs)

    spec = replace(data.spec, user_pairs=indices(config.wide_pairs), diagnosed_pairs=indices(config.diagnosed_pairs))
    streams = online is None and data.spec.task != "implicit"
    return placed(data.with_spec(spec), device, data_budget(device) if streams else math.inf)
