"""Top-K recommendations from an implicit study's stored model: every item the user never
interacted with in the dataset, scored in its latest training context, the K best kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from automl.errors import DataError, SettingsError
from automl.features.negatives import ItemTable
from automl.features.topk_split import interaction_keys
from automl.search.config import StudyConfig
from automl.search.data import study_data
from automl.serving.score import member, pick_artifact, stored_artifacts
from automl.training.candidates import scored_chunks
from storage import Store
from storage.tables import StudyRow


def recommend(store: Store, study: StudyRow, home, users: list[str], k: int = 10,
              model: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """(one row per user and rank 1..k: user, rank, item, score; the requested users training never
    saw). Items the user interacted with anywhere in the dataset are never recommended."""
    if study.task != "implicit":
        raise SettingsError(f"study {study.name!r} is a {study.task} study; recommendations come from implicit "
                            "(top-K) studies: tune one with --task implicit")
    if k < 1:
        raise SettingsError("--k must be at least 1")
    data = study_data(store, study, StudyConfig.from_json(study.config_json), home, torch.device("cpu"))
    spec, encoder = data.spec, data.encoder
    chosen = member(pick_artifact(study, stored_artifacts(store, study), model, None), data)
    user_codes = encoder.fields[spec.user_field].apply(pd.Series(users, dtype=object).astype("string"))
    known = user_codes > 0
    train = data.splits["train"]
    rows = last_rows(train, spec.user_field, torch.from_numpy(user_codes[known]))
    table = ItemTable(spec, train["cat"])
    n_items = table.n_items
    seen = interaction_keys(data)
    item_values = np.asarray(encoder.fields[spec.item_field].values, dtype=object)
    out = []
    for start, scores in scored_chunks(chosen.model, rows, table, None):      # [n, I - 1]: items 1..I-1
        codes = user_codes[known][start:start + len(scores)]
        keys = codes[:, None] * n_items + np.arange(1, n_items)[None, :]
        scores = np.where(np.isin(keys, seen), -np.inf, scores)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        for i, user in enumerate(np.asarray(users, dtype=object)[known][start:start + len(scores)]):
            picked = [j for j in top[i] if np.isfinite(scores[i, j])]
            out += [{"user": user, "rank": r + 1, "item": item_values[j], "score": float(scores[i, j])}
                    for r, j in enumerate(picked)]
    return pd.DataFrame(out, columns=["user", "rank", "item", "score"]), [u for u, ok in zip(users, known) if not ok]


def last_rows(train: dict[str, torch.Tensor], user_field: int, users: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each user's latest training row (its user- and context-side fields), in ``users`` order."""
    codes = train["cat"][:, user_field]
    last = torch.full((int(codes.max()) + 1 if len(codes) else 1,), -1, dtype=torch.long)
    last = last.scatter_reduce(0, codes, torch.arange(len(codes)), reduce="amax")
    index = last[users]
    if (index < 0).any():
        raise DataError("a requested user has no training rows to recommend from")
    return {k: v[index] for k, v in train.items() if k != "cand"}
