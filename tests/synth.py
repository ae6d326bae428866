"""Small generated datasets for tests, encoded through CrossBoard's own pipeline."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from automl.data.demo import demo_frame
from automl.data.infer_schema import infer_schema
from automl.data.timestamps import timestamps_of
from automl.data.validate import label_vector
from automl.features.encode import EncodedData, EncodingOptions, encode, with_ranked_pairs
from automl.features.splits import make_split


def encode_frame(frame: pd.DataFrame, options: EncodingOptions | None = None, temporal: bool = False,
                 **infer) -> EncodedData:
    """Infer the schema, split (stratified random ignoring time, or ``temporal``) and encode, with
    Wide & Deep's pair ranking (as a study with Wide & Deep gets it)."""
    schema = infer_schema(frame, **infer)
    times = timestamps_of(frame, schema) if temporal else None
    assignment, _ = make_split(label_vector(frame, schema), schema.task, times)
    return with_ranked_pairs(encode(frame, schema, assignment, options))


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


def stamps(seconds: np.ndarray) -> list[str]:
    """Epoch seconds -> "YYYY-mm-dd HH:MM:SS" text, the way uploads usually hold times."""
    return pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%d %H:%M:%S").tolist()


def history_click_frame(n_rows: int = 8000, n_users: int = 100, n_items: int = 120, n_categories: int = 10,
                        recent: int = 3, seed: int = 0) -> pd.DataFrame:
    """A time-ordered click log where a click depends (only) on whether the candidate's category
    is among the user's ``recent`` last clicked categories: history decides, ids barely help."""
    rng = np.random.default_rng(seed)
    category = rng.integers(0, n_categories, n_items)
    users, items = rng.integers(0, n_users, n_rows), rng.integers(0, n_items, n_rows)
    times = np.sort(1_735_689_600 + rng.choice(60 * 86_400, n_rows, replace=False))
    last = np.full((n_users, recent), -1)
    clicks, noise = np.zeros(n_rows, np.int64), rng.random(n_rows)
    for r in range(n_rows):                      # sequential by nature: each click changes the history
        u, c = users[r], category[items[r]]
        if noise[r] < 1 / (1 + np.exp(1.3 - (2.8 if c in last[u] else 0.0))):
            clicks[r] = 1
            last[u] = np.r_[c, last[u, :-1]]
    return pd.DataFrame({"user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in items],
                         "item_category": [f"c{c}" for c in category[items]], "timestamp": stamps(times),
                         "click": clicks})


@lru_cache(maxsize=2)
def history_ctr_data(n_rows: int = 8000, history_len: int = 5, seed: int = 0) -> EncodedData:
    """``history_click_frame`` split in time and encoded with a derived history (item id and
    category per step)."""
    return encode_frame(history_click_frame(n_rows, seed=seed), EncodingOptions(history_len=history_len),
                        temporal=True)


@lru_cache(maxsize=1)
def planted_history_data(n_rows: int = 6000, seed: int = 0) -> EncodedData:
    """``planted_ctr_data`` with its timestamps kept, so a history (item id + category) is derived."""
    return encode_frame(demo_frame(n_rows=n_rows, n_users=120, n_items=80, seed=seed), EncodingOptions(history_len=5))


@lru_cache(maxsize=1)
def history_rating_data(n_rows: int = 4000, seed: int = 0) -> EncodedData:
    """``rating_frame`` with timestamps, so a history of all past ratings is derived."""
    frame = rating_frame(n_rows, seed)
    frame["timestamp"] = stamps(1_735_689_600 + np.random.default_rng(seed).choice(30 * 86_400, n_rows))
    return encode_frame(frame, EncodingOptions(history_len=5))


PLANTED_PAIRS = (("colour", "shape"), ("region", "channel"))


def planted_pairs_frame(n_rows: int = 8000, seed: int = 0) -> pd.DataFrame:
    """Clicks from main effects of five categorical fields and a numeric one, plus two planted
    pairwise tables (``PLANTED_PAIRS``); ``noise_a`` and ``noise_b`` have no effect at all."""
    rng = np.random.default_rng(seed)
    sizes = {"colour": 6, "shape": 5, "region": 8, "channel": 4, "brand": 7, "noise_a": 9, "noise_b": 6}
    codes = {name: rng.integers(0, k, n_rows) for name, k in sizes.items()}
    level = rng.normal(0, 1, n_rows)
    logit = -0.3 + 0.5 * level
    for name in ("colour", "shape", "region", "channel", "brand"):
        logit = logit + rng.normal(0, 0.4, sizes[name])[codes[name]]
    for a, b in PLANTED_PAIRS:
        logit = logit + rng.choice([-1.3, 1.3], size=(sizes[a], sizes[b]))[codes[a], codes[b]]
    click = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({name: [f"{name[:2]}{v}" for v in values] for name, values in codes.items()})
    return frame.assign(level=level, click=click)


@lru_cache(maxsize=2)
def planted_pairs_data(n_rows: int = 8000, seed: int = 0) -> EncodedData:
    return encode_frame(planted_pairs_frame(n_rows, seed))


HIERARCHY_PAIRS = (("segment", "category"), ("hour", "device"))


def hierarchy_frame(n_rows: int = 20_000, seed: int = 0, n_users: int = 1500, n_items: int = 600, n_ads: int = 200,
                    noise: float = 0.005, effect: float = 1.2) -> pd.DataFrame:
    """A click log with hierarchies: item_id -> category (exact), user_id -> segment (except on a share ``noise``
    of the rows, so a near map), ad_id -> campaign (exact); planted pairs at two levels (``HIERARCHY_PAIRS``):
    segment × category (attributes of the user and the item) and hour × device (hour 0..23, read as numeric),
    each a ±``effect`` table; main effects of campaign, category, device and small per-id biases; noise_a has
    no effect."""
    rng = np.random.default_rng(seed)
    segment_of, category_of, campaign_of = rng.integers(0, 4, n_users), rng.integers(0, 12, n_items), \
        rng.integers(0, 25, n_ads)
    user = rng.zipf(1.3, n_rows) % n_users
    item, ad = rng.integers(0, n_items, n_rows), rng.integers(0, n_ads, n_rows)
    segment = np.where(rng.random(n_rows) < noise, rng.integers(0, 4, n_rows), segment_of[user])
    category, campaign = category_of[item], campaign_of[ad]
    device, hour, noise_a = rng.integers(0, 4, n_rows), rng.integers(0, 24, n_rows), rng.integers(0, 10, n_rows)
    logit = (-0.6 + rng.normal(0, 0.2, n_users)[user] + rng.normal(0, 0.2, n_items)[item]
             + rng.normal(0, 0.4, 25)[campaign] + rng.normal(0, 0.3, 12)[category] + rng.normal(0, 0.3, 4)[device]
             + rng.choice([-effect, effect], (4, 12))[segment, category]
             + rng.choice([-effect, effect], (24, 4))[hour, device])
    click = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"user_id": [f"u{u}" for u in user], "segment": [f"s{s}" for s in segment],
                         "item_id": [f"i{i}" for i in item], "category": [f"c{c}" for c in category],
                         "ad_id": [f"a{a}" for a in ad], "campaign": [f"k{k}" for k in campaign],
                         "device": [f"d{d}" for d in device], "hour": hour, "noise_a": [f"n{v}" for v in noise_a],
                         "click": click})


HIERARCHY_ROLES = {"user_id": "user", "item_id": "item", "hour": "numeric", "segment": "categorical",
                   "category": "categorical", "ad_id": "categorical", "campaign": "categorical",
                   "device": "categorical", "noise_a": "categorical"}


@lru_cache(maxsize=2)
def hierarchy_data(n_rows: int = 20_000, seed: int = 0) -> EncodedData:
    return encode_frame(hierarchy_frame(n_rows, seed), label="click", roles=HIERARCHY_ROLES)
