"""The bundled demo: a deterministic synthetic interaction log with known structure.

Clicks depend on (1) a planted user-segment × item-category affinity, (2) a planted
device × daypart interaction, (3) a history effect (the item's category among the user's last
clicked categories), (4) item popularity and (5) price, which has gaps. A model that crosses
features should beat LR here; one that reads history should beat one that does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from storage import Store
    from storage.tables import DatasetRow

DEMO_NAME = "demo-interactions"
START = 1_735_689_600  # 2025-01-01 00:00:00 UTC


def demo_frame(n_rows: int = 20_000, n_users: int = 400, n_items: int = 300, seed: int = 0) -> pd.DataFrame:
    """The demo table: one row per impression, ordered by time."""
    rng = np.random.default_rng(seed)
    n_categories, n_segments = 12, 5
    segment = rng.integers(0, n_segments, n_users)
    age = rng.choice(["18-24", "25-34", "35-49", "50+"], n_users)
    category = rng.integers(0, n_categories, n_items)
    popularity = rng.normal(0, 0.5, n_items)
    price = np.round(np.exp(rng.normal(3, 0.8, n_items)), 2)
    affinity = rng.choice([-1.5, 0.0, 1.5], size=(n_segments, n_categories), p=[0.3, 0.4, 0.3])
    devices = np.array(["mobile", "desktop", "tablet"])
    device_daypart = np.array([[1.2, -0.8, 0.0, -1.0], [-1.0, 1.0, 0.3, 0.0], [0.0, -0.5, 0.8, 0.4]])

    users = rng.integers(0, n_users, n_rows)
    items = rng.integers(0, n_items, n_rows)
    times = np.sort(START + rng.integers(0, 30 * 86_400, n_rows))
    hour = (times // 3600) % 24
    daypart = hour // 6
    device = rng.integers(0, 3, n_rows)
    log_price = (np.log(price[items]) - 3) / 0.8

    logit = (-1.0 + affinity[segment[users], category[items]] + device_daypart[device, daypart]
             + popularity[items] - 0.4 * log_price)
    recent = np.full((n_users, 3), -1)          # last three clicked categories per user
    clicks = np.zeros(n_rows, dtype=np.int64)
    noise = rng.random(n_rows)
    for r in range(n_rows):                      # sequential by nature: history feeds the next click
        u, c = users[r], category[items[r]]
        z = logit[r] + (1.2 if c in recent[u] else 0.0)
        if noise[r] < 1 / (1 + np.exp(-z)):
            clicks[r] = 1
            recent[u] = np.roll(recent[u], 1)
            recent[u, 0] = c
    shown_price = price[items].astype(float)
    shown_price[rng.random(n_rows) < 0.08] = np.nan
    return pd.DataFrame({
        "user_id": [f"u{u:04d}" for u in users],
        "item_id": [f"i{i:04d}" for i in items],
        "item_category": [f"cat{c:02d}" for c in category[items]],
        "user_segment": [f"seg{s}" for s in segment[users]],
        "age_group": age[users],
        "device": devices[device],
        "hour": hour,
        "price": shown_price,
        "timestamp": pd.to_datetime(times, unit="s").strftime("%Y-%m-%d %H:%M:%S"),
        "click": clicks,
    })


def ensure_demo(store: Store, n_rows: int = 20_000) -> DatasetRow:
    """Register the demo dataset on first start; returns its row (the stored one if present)."""
    from automl.data import datasets

    existing = store.find_dataset(DEMO_NAME)
    if existing is not None:
        return existing
    csv = demo_frame(n_rows).to_csv(index=False).encode()
    return datasets.save(store, datasets.inspect(csv, f"{DEMO_NAME}.csv"), name=DEMO_NAME)


def drifting_frame(n_rows: int = 20_000, n_users: int = 300, n_items: int = 600, n_categories: int = 8,
                   days: int = 20, session_size: int = 5, seed: int = 0) -> pd.DataFrame:
    """A news-like stream that changes over time, for online studies: each item is live for three
    days after its (random) birth, with a quality of its own; users belong to segments whose taste
    for the item categories switches halfway through the log. Each row is one impression of a
    session (a user shown ``session_size`` live items at once), ordered by time. A model trained
    once on the oldest rows knows neither the new items nor the new tastes; one that learns as the
    log goes on can."""
    rng = np.random.default_rng(seed)
    span, life = days * 86_400, 3 * 86_400
    birth = np.sort(rng.integers(-life, span, n_items))
    quality = rng.normal(0, 0.8, n_items)
    category = rng.integers(0, n_categories, n_items)
    n_segments = 4
    segment = rng.integers(0, n_segments, n_users)
    taste = rng.choice([-1.2, 0.0, 1.2], size=(2, n_segments, n_categories))
    activity = rng.pareto(1.5, n_users) + 0.1
    n_sessions = n_rows // session_size
    session_time = np.sort(rng.integers(0, span, n_sessions))
    session_user = rng.choice(n_users, n_sessions, p=activity / activity.sum())
    times = np.repeat(session_time, session_size)
    users = np.repeat(session_user, session_size)
    first_live = np.searchsorted(birth, times - life)         # items born in (t - life, t] are live
    last_live = np.maximum(np.searchsorted(birth, times, side="right"), first_live + 1)
    items = np.minimum(first_live + (rng.random(len(times)) * (last_live - first_live)).astype(np.int64),
                       n_items - 1)
    regime = (times >= span // 2).astype(np.int64)
    logit = -1.5 + quality[items] + taste[regime, segment[users], category[items]]
    clicks = (rng.random(len(times)) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame({
        "user_id": [f"u{u:04d}" for u in users],
        "item_id": [f"n{i:04d}" for i in items],
        "category": [f"c{c}" for c in category[items]],
        "segment": [f"s{s}" for s in segment[users]],
        "timestamp": START + times,
        "click": clicks,
    })
