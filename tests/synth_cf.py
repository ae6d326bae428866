"""Small generated interaction logs for the implicit top-K task, encoded through CrossBoard's own
pipeline (positives, leave-one-out split, sampled candidates)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from automl.data.infer_schema import infer_schema
from automl.features.encode import EncodedData, EncodingOptions
from automl.features.prepare import make_assignment
from automl.features.topk_split import encode_implicit, positive_rows


def implicit_log_frame(n_users: int = 200, n_items: int = 160, per_user: int = 16, seed: int = 0) -> pd.DataFrame:
    """A log of positive interactions (no label): user_id, item_id, genre (item-side), group
    (user-side), timestamp. Each user picks about ``per_user`` distinct items with probability
    proportional to a Zipf popularity times a strong group x genre affinity, at random times."""
    rng = np.random.default_rng(seed)
    group, genre = rng.integers(0, 4, n_users), rng.integers(0, 5, n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.6
    affinity = np.where(genre[None, :] == group[:, None], 6.0, 1.0)                      # [U, I]
    keys = np.log(popularity[None, :] * affinity) + rng.gumbel(size=(n_users, n_items))
    picks = np.argsort(-keys, axis=1)[:, :2 * per_user]
    counts = np.clip(rng.poisson(per_user, n_users), 3, 2 * per_user)
    keep = np.arange(2 * per_user)[None, :] < counts[:, None]
    users, items = np.nonzero(keep)[0], picks[keep]
    times = 1_735_689_600 + rng.choice(90 * 86_400, len(users), replace=False)
    return pd.DataFrame({"user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in items],
                         "genre": [f"g{genre[i]}" for i in items], "group": [f"c{group[u]}" for u in users],
                         "timestamp": times})


def implicit_data(frame: pd.DataFrame, n_candidates: int = 99, options: EncodingOptions | None = None,
                  **infer) -> EncodedData:
    """Infer the schema (task implicit), keep the positives, split leave-one-out, encode."""
    schema = infer_schema(frame, **infer)
    rows = positive_rows(frame, schema)
    assignment, _ = make_assignment(rows, schema)
    return encode_implicit(rows, schema, assignment, options, n_candidates)


@lru_cache(maxsize=2)
def planted_implicit_data(n_candidates: int = 99) -> EncodedData:
    return implicit_data(implicit_log_frame(), n_candidates)


@lru_cache(maxsize=1)
def small_implicit_data() -> EncodedData:
    """A quicker log for checks across the whole registry: 150 users, 49 candidates each (a random
    ranking expects HR@10 = 0.2)."""
    return implicit_data(implicit_log_frame(n_users=150, n_items=120, per_user=12, seed=1), n_candidates=49)
