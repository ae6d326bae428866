"""Behavior histories: no leakage, positives only, newest L kept, given columns, GAUC."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from synth import planted_history_data

from automl.data.history_column import item_history_column
from automl.data.infer_schema import infer_schema
from automl.evaluation.metrics import compute, gauc, user_ids
from automl.features.encode import EncodingOptions, encode
from automl.features.history import age_buckets, derive_history, given_history


def reference_history(users, attributes, times, eligible, max_len):
    """The slow, obvious version: scan every earlier event of every row."""
    n, width = len(users), attributes.shape[1]
    out = {f"hist{a}": np.zeros((n, max_len), np.int64) for a in range(width)}
    out["hist_age"], out["hist_len"] = np.zeros((n, max_len), np.int64), np.zeros(n, np.int64)
    for r in range(n):
        past = [e for e in range(n) if users[e] == users[r] and times[e] < times[r] and eligible[e]]
        past = sorted(past, key=lambda e: (times[e], e))[-max_len:] if max_len else []
        out["hist_len"][r] = len(past)
        for j, e in enumerate(past):
            for a in range(width):
                out[f"hist{a}"][r, j] = attributes[e, a]
            out["hist_age"][r, j] = age_buckets(np.array([times[r] - times[e]]))[0]
    return out


logs = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 3), min_size=n, max_size=n),               # users
    st.lists(st.integers(0, 6), min_size=n, max_size=n),               # times (many ties)
    st.lists(st.booleans(), min_size=n, max_size=n),                   # eligible (positive)
    st.integers(1, 5)))                                                # L


@settings(max_examples=150, deadline=None)
@given(logs)
def test_history_matches_the_slow_reference_and_never_sees_now_or_later(log):
    users, times, eligible, max_len = np.array(log[0]), np.array(log[1]) * 3600, np.array(log[2]), log[3]
    item_ids = np.arange(1, len(users) + 1)                            # a row's own item id is unique
    attributes = np.stack([item_ids, item_ids % 3 + 1], axis=1)
    out = derive_history(users, attributes, times, eligible, max_len)
    expected = reference_history(users, attributes, times, eligible, max_len)
    for key, value in expected.items():
        np.testing.assert_array_equal(out[key], value, err_msg=key)
    seen = out["hist0"] - 1                                            # row index of each past event
    for r in range(len(users)):
        past = seen[r, :out["hist_len"][r]]
        assert (times[past] < times[r]).all() and eligible[past].all() and (users[past] == users[r]).all()


def test_positives_only_and_the_newest_events_kept():
    users = np.zeros(6, np.int64)
    times = np.array([1, 2, 3, 4, 5, 6]) * 3600
    attributes = np.arange(10, 16).reshape(-1, 1)
    positive = np.array([1, 0, 1, 1, 0, 1], bool)
    out = derive_history(users, attributes, times, positive, max_len=2)
    assert out["hist0"][5].tolist() == [12, 13]                        # positives 10, 12, 13: newest two
    assert out["hist_len"].tolist() == [0, 1, 1, 2, 2, 2]
    assert out["hist_age"][5].tolist() == [age_buckets(np.array([3 * 3600]))[0], age_buckets(np.array([7200]))[0]]
    every = derive_history(users, attributes, times, np.ones(6, bool), max_len=2)
    assert every["hist0"][5].tolist() == [13, 14]


def test_age_buckets_grow_with_log_time_and_stay_in_range():
    hours = np.array([0.5, 1, 3, 24, 24 * 365 * 100])
    assert age_buckets(hours * 3600).tolist() == [1, 2, 3, 5, 15]


def test_encode_derives_history_from_the_whole_log_with_shared_codes():
    data = planted_history_data()
    spec, train = data.spec, data.splits["train"]
    assert spec.history is not None and spec.history.max_len == 5
    item, category = spec.history.field_index
    assert spec.fields[item].name == "item_id" and spec.fields[category].name == "item_category"
    assert int(train["hist_len"].max()) == 5 and train["hist0"].shape[1] == 5
    filled = train["hist_len"] > 0
    assert filled.float().mean() > 0.5
    # history steps use the candidate's codes: every (item, category) step is some row's candidate
    rows = {tuple(p) for b in data.splits.values() for p in b["cat"][:, [item, category]].tolist()}
    steps = set(zip(train["hist0"][filled, 0].tolist(), train["hist1"][filled, 0].tolist()))
    assert steps <= rows
    assert EncodingOptions().key() != EncodingOptions(history_positives_only=False).key()


def test_a_sequence_column_of_item_ids_becomes_the_history():
    rng = np.random.default_rng(0)
    items = [f"i{k}" for k in rng.integers(0, 30, 200)]
    frame = pd.DataFrame({
        "user_id": [f"u{k}" for k in rng.integers(0, 20, 200)], "item_id": items,
        "click_seq": ["^".join(f"i{k}" for k in rng.integers(0, 30, rng.integers(1, 6))) + "^unknown"
                      for _ in range(200)],
        "tags": ["|".join(f"t{k}" for k in rng.integers(0, 9, 3)) for _ in range(200)],
        "clk": rng.integers(0, 2, 200)})
    schema = infer_schema(frame, label="clk")
    assert item_history_column(frame, schema) == "click_seq"
    data = encode(frame, schema, np.zeros(200, np.int8), EncodingOptions(history_len=4))
    spec, batch = data.spec, data.splits["train"]
    assert spec.history.field_index == (spec.item_field,) and "click_seq" in spec.history.source
    assert [s.name for s in spec.sequences] == ["click_seq", "tags"]   # still a pooled field for other models
    first = frame.click_seq[0].split("^")[:-1][-4:]                    # "unknown" is dropped, newest 4 kept
    codes = dict(zip(frame.item_id, batch["cat"][:, spec.item_field].tolist()))
    assert batch["hist0"][0, :len(first)].tolist() == [codes[t] for t in first]
    assert batch["hist_len"][0] == len(first) and batch["hist_age"][0].tolist() == [1] * len(first) + [0] * (
        4 - len(first))


def test_given_history_drops_unknown_tokens_and_keeps_the_newest():
    out = given_history(pd.Series(["a|b|x|c", "", None]), "|", pd.Series(["a", "b", "c"]), np.array([1, 2, 3]), 2)
    assert out["hist0"].tolist() == [[2, 3], [0, 0], [0, 0]] and out["hist_len"].tolist() == [2, 0, 0]


def test_gauc_weights_each_users_auc_by_impressions_and_skips_one_class_users():
    y = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.2, 0.5, 0.3, 0.3, 0.8, 0.7, 0.6, 0.6])
    users = np.array(["a", "a", "a", "b", "b", "c", "c", "d", "d"])
    # a: 1 vs {0.2, 0.5} -> 1.0 (3 rows); b: tie 0.3 vs 0.3 -> 0.5 (2 rows); c: one class, skipped;
    # d: one class, skipped
    assert gauc(y, p, users) == pytest.approx((1.0 * 3 + 0.5 * 2) / 5)
    assert np.isnan(gauc(np.array([1, 1]), np.array([0.1, 0.2]), np.array([1, 2])))
    logits = np.log(p / (1 - p))
    assert compute("ctr", y, logits, users)["gauc"] == pytest.approx(0.8)
    assert "gauc" not in compute("ctr", y, logits)


def test_users_unseen_in_training_are_not_pooled_into_one_gauc_group():
    spec = SimpleNamespace(user_field=0)
    codes = torch.tensor([[3], [3], [0], [0], [0]])
    users = user_ids({"cat": codes}, spec)
    assert users[:2].tolist() == [3, 3] and len(set(users[2:].tolist())) == 3 and (users[2:] < 0).all()
    assert codes[:, 0].tolist() == [3, 3, 0, 0, 0]                         # the batch is left as it was
    y, p = np.array([1, 0, 1, 0, 1]), np.array([0.9, 0.1, 0.1, 0.9, 0.2])
    assert gauc(y, p, users) == pytest.approx(1.0)          # pooled, the strangers would give 0.4
