"""Small generated datasets for tests, encoded through CrossBoard's own pipeline."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from automl.demo import demo_frame
from automl.features import EncodedData, encode
from automl.inference import infer_schema
from automl.splits import make_split
from automl.validation import label_vector


def encode_frame(frame: pd.DataFrame, **infer) -> EncodedData:
    """Infer the schema, split (stratified random, ignoring time) and encode."""
    schema = infer_schema(frame, **infer)
    assignment, _ = make_split(label_vector(frame, schema), schema.task, None)
    return encode(frame, schema, assignment)


@lru_cache(maxsize=4)
def planted_ctr_data(n_rows: int = 6000, seed: int = 0) -> EncodedData:
    """The demo generator at test size: pairwise interactions planted, positive rate ~0.4."""
    return encode_frame(demo_frame(n_rows=n_rows, n_users=120, n_items=80, seed=seed).drop(columns=["timestamp"]))


def rating_frame(n_rows: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Ratings 1..5 from user and item biases plus a user-group × genre interaction."""
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 150, n_rows), rng.integers(0, 100, n_rows)
    group, genre = users % 4, items % 5
    affinity = rng.normal(0, 1.0, (4, 5))
    score = 3.3 + rng.normal(0, 0.5, 150)[users] + rng.normal(0, 0.5, 100)[items] + affinity[group, genre]
    rating = np.clip(np.round(score + rng.normal(0, 0.4, n_rows)), 1, 5).astype(int)
    return pd.DataFrame({"user_id": users, "item_id": items, "group": [f"g{g}" for g in group],
                         "genre": [f"x{g}" for g in genre], "rating": rating})


@lru_cache(maxsize=2)
def planted_rating_data(n_rows: int = 4000, seed: int = 0) -> EncodedData:
    return encode_frame(rating_frame(n_rows, seed))
