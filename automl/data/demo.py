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
