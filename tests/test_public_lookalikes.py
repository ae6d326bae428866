"""Role inference, table-driven, on generated look-alikes of the public datasets (same column names
and value forms as the DeepCTR, FuxiCTR, DIN and BARS samples; the real files are checked by
``benchmarks/roles.py``): every column gets the role its documentation gives it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.data.datasets import inspect

N = 2000


def _zipf(rng, n: int, k: int, a: float = 1.3) -> np.ndarray:
    return np.minimum(rng.zipf(a, n), k) - 1


def _hex(rng, n: int, k: int, empty: float = 0.0) -> list:
    vocab = np.array([f"{v:08x}" for v in rng.integers(0, 2**32, k)], dtype=object)
    values = vocab[_zipf(rng, n, k)]
    values[rng.random(n) < empty] = None
    return list(values)


def _counts(rng, n: int, scale: float, missing: float) -> np.ndarray:
    values = np.floor(rng.lognormal(np.log(scale), 1.2, n))
    values[rng.random(n) < missing] = np.nan
    return values


def criteo(rng) -> tuple[pd.DataFrame, dict]:
    frame = pd.DataFrame({"label": rng.integers(0, 2, N)})
    for j, scale in enumerate((3, 100, 20, 8, 20_000, 200, 10, 30, 150, 1, 4, 1, 10), start=1):
        frame[f"I{j}"] = _counts(rng, N, scale, 0.3 if j in (1, 10, 12) else 0.05)
    for j, k in enumerate(np.geomspace(4, 50_000, 26).astype(int), start=1):
        frame[f"C{j}"] = _hex(rng, N, int(k), empty=0.3 if j in (19, 20, 22, 25, 26) else 0.0)
    expected = {"label": {"label"}, **{f"I{j}": {"numeric"} for j in range(1, 14)},
                **{f"C{j}": {"categorical"} for j in range(1, 27)}}
    return frame, expected


def avazu(rng) -> tuple[pd.DataFrame, dict]:
    def codes(values, weights=None):
        return rng.choice(values, N, p=None if weights is None else np.array(weights) / sum(weights))

    frame = pd.DataFrame({
        "id": rng.choice(2**62, N, replace=False).astype(np.uint64) * 3 + 10**18,
        "click": rng.integers(0, 2, N),
        "hour": 14102100 + rng.integers(0, 24, N),
        "C1": codes([1005, 1002, 1010, 1007], [90, 6, 3, 1]),
        "banner_pos": codes([0, 1, 7], [75, 24, 1]),
        **{name: _hex(rng, N, k) for name, k in (("site_id", 300), ("site_domain", 250), ("site_category", 15),
                                                 ("app_id", 200), ("app_domain", 30), ("app_category", 12),
                                                 ("device_id", 1500), ("device_ip", 1800), ("device_model", 600))},
        "device_type": codes([1, 0, 4, 5], [92, 5, 2, 1]),
        "device_conn_type": codes([0, 2, 3], [85, 10, 5]),
        "C14": 15_000 + _zipf(rng, N, 700) * 9,
        "C15": codes([320, 300, 728, 216], [93, 5, 1, 1]),
        "C16": codes([50, 250, 90, 36], [94, 4, 1, 1]),
        "C17": 1_700 + _zipf(rng, N, 200) * 3,
        "C18": codes([0, 3, 2, 1], [40, 30, 20, 10]),
        "C19": codes([35, 39, 167, 161, 47, 1063], [40, 20, 15, 10, 10, 5]),
        "C20": codes([-1, 100084, 100148, 100111, 100077], [50, 20, 15, 10, 5]),
        "C21": codes([79, 221, 23, 61, 157, 32], [20, 20, 20, 15, 15, 10]),
    })
    categorical = {"C1", "banner_pos", "site_id", "site_domain", "site_category", "app_domain", "app_category",
                   "device_id", "device_ip", "device_model", "device_type", "device_conn_type",
                   *(f"C{j}" for j in range(14, 22))}
    expected = {"id": {"ignore"}, "click": {"label"}, "hour": {"timestamp"}, "app_id": {"categorical", "item"},
                **{name: {"categorical"} for name in categorical}}
    return frame, expected


def movielens(rng) -> tuple[pd.DataFrame, dict]:
    users, movies = rng.integers(1, 6041, N), _zipf(rng, N, 3700, 1.2) + 1
    genres = np.array(["Comedy|Drama", "Action|Thriller", "Animation|Children's|Comedy", "Drama", "Horror"])
    frame = pd.DataFrame({
        "user_id": users, "movie_id": movies, "rating": rng.integers(1, 6, N),
        "timestamp": 956_703_932 + rng.integers(0, 90_000_000, N),
        "title": [f"Film number {m} ({1920 + m % 80})" for m in movies],
        "genres": genres[movies % len(genres)],
        "gender": np.array(["F", "M"])[users % 2],
        "age": np.array([1, 18, 25, 35, 45, 50, 56])[users % 7],
        "occupation": users % 21,
        "zip": [f"{z:05d}" for z in (users * 7919) % 99_999],
    })
    expected = {"user_id": {"user"}, "movie_id": {"item"}, "rating": {"label"}, "timestamp": {"timestamp"},
                "title": {"ignore"}, "genres": {"sequence"}, "gender": {"categorical"}, "age": {"categorical"},
                "occupation": {"categorical"}, "zip": {"categorical"}}
    return frame, expected


def taobao(rng) -> tuple[pd.DataFrame, dict]:
    users, ads = 100_000 + rng.integers(0, 800, N), 1_000 + _zipf(rng, N, 900, 1.2) * 577
    frame = pd.DataFrame({
        "clk": (rng.random(N) < 0.06).astype(int),
        "time_stamp": pd.Timestamp("2017-05-06") + pd.to_timedelta(rng.integers(0, 8 * 86400, N), unit="s"),
        "userid": users, "adgroup_id": ads,
        "pid": rng.choice(["430548_1007", "430539_1007"], N),
        "cate_id": 4_000 + (ads // 577) % 300, "campaign_id": 100_000 + (ads // 577) % 700,
        "customer": 800 + (ads // 577) % 500, "brand": np.where(rng.random(N) < 0.2, np.nan, 300_000 + ads % 411),
        "price": np.round(rng.lognormal(4, 1.3, N), 1),
        "cms_segid": np.where(users % 5 == 0, users % 97, 0), "cms_group_id": users % 13,
        "final_gender_code": 1 + users % 2, "age_level": users % 7,
        "pvalue_level": np.where(users % 3 == 0, np.nan, 1 + users % 3), "shopping_level": 1 + users % 3,
        "occupation": (users % 10 == 0).astype(int), "new_user_class_level": np.nan,
        "click_sequence": ["^".join(str(v) for v in rng.integers(100_000, 900_000, 1 + u % 6)) for u in users],
    })
    frame["time_stamp"] = frame["time_stamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    categorical = ("pid", "cate_id", "campaign_id", "customer", "brand", "cms_segid", "cms_group_id",
                   "final_gender_code", "age_level", "pvalue_level", "shopping_level", "occupation")
    expected = {"clk": {"label"}, "time_stamp": {"timestamp"}, "userid": {"user"}, "adgroup_id": {"item"},
                **{name: {"categorical"} for name in categorical}, "new_user_class_level": {"categorical", "ignore"},
                "price": {"numeric"}, "click_sequence": {"sequence"}}
    return frame, expected


def amazon(rng) -> tuple[pd.DataFrame, dict]:
    users = np.sort(rng.integers(0, 300, N))
    items = _zipf(rng, N, 60_000, 1.1)
    frame = pd.DataFrame({"user_id": users, "item_id": items,
                          "time": 1_400_457_600 + rng.integers(0, 400, N) * 86_400, "cate_id": items % 800})
    return frame, {"user_id": {"user"}, "item_id": {"item"}, "time": {"timestamp"}, "cate_id": {"categorical"}}


def frappe(rng) -> tuple[pd.DataFrame, dict]:
    """BARS' Frappe_x1: every field already an integer index into one shared vocabulary."""
    frame = pd.DataFrame({"label": (rng.random(N) < 0.33).astype(int), "user": rng.integers(0, 957, N),
                          "item": 957 + _zipf(rng, N, 4082, 1.2)})
    start = 5040
    for name, k in (("daytime", 7), ("weekday", 7), ("isweekend", 2), ("homework", 3), ("cost", 2),
                    ("weather", 9), ("country", 80), ("city", 233)):
        frame[name] = start + _zipf(rng, N, k, 1.5)
        start += k
    expected = {"label": {"label"}, "user": {"user"}, "item": {"item"},
                **{c: {"categorical"} for c in ("daytime", "weekday", "isweekend", "homework", "cost", "weather",
                                                "country", "city")}}
    return frame, expected


@pytest.mark.parametrize("make", [criteo, avazu, movielens, taobao, amazon, frappe], ids=lambda f: f.__name__)
def test_every_column_of_a_public_dataset_lookalike_gets_its_documented_role(make):
    frame, expected = make(np.random.default_rng(0))
    schema = inspect(frame.to_csv(index=False).encode(), f"{make.__name__}.csv").schema
    wrong = {c.name: f"{c.role} ({c.reason})" for c in schema.columns if c.role not in expected[c.name]}
    assert not wrong, wrong
