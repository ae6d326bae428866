"""The headless path for collaborative filtering: a headerless (user, item, rating, timestamp) TSV
ingested with --names, tuned as rating and as implicit top-K, read back from the leaderboard."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from cli_helpers import crossboard


def ratings_tsv(path, n_users: int = 120, n_items: int = 150, seed: int = 0) -> None:
    """MovieLens' u.data layout: tab-separated user, item, rating, epoch seconds; no header."""
    rng = np.random.default_rng(seed)
    n = n_users * 14
    users = rng.integers(1, n_users + 1, n)
    items = np.minimum(rng.zipf(1.3, n), n_items)
    rating = np.clip(np.round(3 + (users % 3 == items % 3) + rng.normal(0, 0.7, n)), 1, 5).astype(int)
    times = 874_724_710 + rng.integers(0, 200 * 86_400, n)
    frame = pd.DataFrame({"u": users, "i": items, "r": rating, "t": times}).drop_duplicates(["u", "i"])
    frame.to_csv(path, sep="\t", header=False, index=False)


def test_a_headerless_rating_log_tunes_as_rating_and_as_implicit(home, tmp_path):
    path = tmp_path / "u.data"
    ratings_tsv(path)
    ingest = crossboard(home, "ingest", str(path), "--names", "user_id,item_id,rating,timestamp", "--name", "ml")
    assert ingest.returncode == 0, ingest.stderr
    assert "task rating" in ingest.stdout

    rating = crossboard(home, "tune", "ml", "--models", "mf,autorec", "--trials", "2", "--epochs", "2",
                        "--name", "ml-rating", timeout=600)
    assert rating.returncode == 0, rating.stdout + rating.stderr
    records = json.loads(crossboard(home, "leaderboard", "ml-rating", "--format", "json").stdout)
    autorec = next(r for r in records if r["model"] == "autorec")
    assert set(autorec["test"]) == {"rmse", "mae"} and "fallbacks" in autorec["notes"]
    blend = records[-1]                                     # the ensemble of both models' best trials
    assert blend["model"] == "ensemble" and set(blend["params"]["weights"]) <= {"mf", "autorec"}
    done = [r for r in records[:-1] if r["state"] == "COMPLETE"]
    for model, trial in blend["params"]["trials"].items():     # each member is its model's best trial
        assert trial == min((r for r in done if r["model"] == model), key=lambda r: r["val"]["rmse"])["trial"]

    implicit = crossboard(home, "tune", "ml", "--task", "implicit", "--models", "pop,random,mf,gmf,fm",
                          "--trials", "5", "--epochs", "2", "--name", "ml-topk", timeout=600)
    assert implicit.returncode == 0, implicit.stdout + implicit.stderr
    assert "val_ndcg@10" in implicit.stdout
    records = json.loads(crossboard(home, "leaderboard", "ml-topk", "--format", "json").stdout)
    done = {r["model"]: r for r in records if r["state"] == "COMPLETE"}
    assert set(done) == {"pop", "random", "mf", "gmf", "fm"}
    for record in done.values():
        assert {"hr@10", "ndcg@10", "recall@10", "mrr"} <= set(record["val"]) <= set(record["test"])
    assert done["pop"]["test"]["hr@10"] > done["random"]["test"]["hr@10"]
    assert records[0]["model"] != "random"                             # ranked by ndcg@10, maximized
    for record in done.values():                                        # beside 99 sampled candidates, every item
        assert {"full hr@10", "full ndcg@10", "full mrr"} <= set(record["test"])
        assert record["test"]["full hr@10"] <= record["test"]["hr@10"]     # more items ranked: never easier

    best = {r["model"]: r for r in json.loads(crossboard(home, "leaderboard", "ml-topk", "--best", "--format",
                                                           "json").stdout)}
    assert [m for m, r in best.items() if r["standing"] == "leader"] == [records[0]["model"]]
    assert all(r["standing"] for r in best.values())           # every model placed: a top-K study has a verdict
    low, high = best["pop"]["interval"]["ndcg@10"]
    assert 0 <= low <= best["pop"]["test_mean"]["ndcg@10"] <= high <= 1
    report = json.loads(crossboard(home, "report", "ml-topk", "--format", "json").stdout)
    assert report["verdict"]["test"].startswith("paired z-test of per-user ndcg@10")
    assert report["verdict"]["full_corpus"]["rows"] == report["verdict"]["rows"]     # every user, a small catalogue
    assert any(s.startswith("Ranked against every item on") for s in report["sentences"])
    assert "against every item" in report["protocol"]
