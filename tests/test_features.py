"""Encoding: vocabularies, OOV, numeric standardization, buckets, sequences, sides, cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from automl.data.infer_schema import infer_schema
from automl.features.encode import (
    EncodingOptions,
    encode,
    encode_categorical,
    encode_numeric,
    encode_sequence,
)
from automl.features.prepare import read_cache, write_cache


def test_categorical_codes_come_from_training_rows_with_oov_zero():
    values = pd.Series(["a", "b", "a", "c", "a", "b", "z", None])
    is_train = np.array([1, 1, 1, 1, 1, 1, 0, 0], dtype=bool)
    codes, code, _ = encode_categorical(values, is_train, EncodingOptions(min_count=2))
    assert len(code.values) + 1 == 3                                       # OOV + a + b ("c" seen once)
    assert codes.tolist() == [1, 2, 1, 0, 1, 2, 0, 0]       # most frequent first; unseen / missing -> 0


def test_categorical_vocabulary_is_capped_by_frequency():
    values = pd.Series(list("aaabbc"))
    codes, code, _ = encode_categorical(values, np.ones(6, bool), EncodingOptions(max_vocab=2))
    assert len(code.values) + 1 == 3 and codes.tolist() == [1, 1, 1, 2, 2, 0]


def test_numeric_is_standardized_on_training_rows_with_a_missing_flag_and_buckets():
    values = pd.Series([1.0, 2.0, 3.0, None, 100.0])
    is_train = np.array([1, 1, 1, 1, 0], dtype=bool)
    code, standardized, flags, buckets = encode_numeric(values, is_train, n_buckets=2)
    card = code.cardinality
    mean, std = 2.0, np.std([1.0, 2.0, 3.0])
    np.testing.assert_allclose(standardized, [(1 - mean) / std, 0, (3 - mean) / std, 0, (100 - mean) / std], rtol=1e-6)
    assert flags.tolist() == [0, 0, 0, 1, 0]
    assert buckets[3] == 0 and buckets[0] < buckets[2] and buckets[4] == buckets.max()
    assert card == buckets.max() + 1


def test_numeric_without_gaps_has_no_flag_column():
    code, _, flags, _ = encode_numeric(pd.Series([1.0, 2.0, 3.0]), np.ones(3, bool), 4)
    assert not code.flagged and not flags.any()


def test_sequence_keeps_the_newest_tokens_left_aligned():
    series = pd.Series(["a|b|c|d", "b", "", None])
    tokens, code = encode_sequence(series, "|", np.ones(4, bool), EncodingOptions(max_seq_len=3))
    card = len(code.values) + 1
    vocab = {"b": 1}  # b is the most frequent
    assert card == 5
    assert tokens.shape == (4, 3)
    assert tokens[1].tolist() == [vocab["b"], 0, 0]
    assert tokens[2].tolist() == [0, 0, 0] and tokens[3].tolist() == [0, 0, 0]
    assert tokens[0][0] == vocab["b"] and 0 not in tokens[0]          # b, c, d kept; a dropped


def test_encode_builds_the_batch_layout_and_spec():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "user_id": rng.integers(0, 20, 200), "item_id": rng.integers(0, 10, 200),
        "price": np.where(rng.random(200) < 0.1, np.nan, rng.random(200)),
        "click": rng.integers(0, 2, 200),
    })
    frame["item_color"] = frame["item_id"].map(lambda i: f"c{i % 3}")
    schema = infer_schema(frame)
    assignment = np.repeat(np.array([0, 1, 2], dtype=np.int8), [160, 20, 20])
    data = encode(frame, schema, assignment)
    spec = data.spec
    assert [f.name for f in spec.fields] == ["user_id", "item_id", "item_color"]
    assert [f.side for f in spec.fields] == ["user", "item", "item"]
    assert spec.numeric == ("price", "price is missing")
    assert spec.user_field == 0 and spec.item_field == 1
    train = data.splits["train"]
    assert train["cat"].dtype == torch.int64 and train["cat"].shape == (160, 3)
    assert train["num"].dtype == torch.float32 and train["num"].shape == (160, 2)
    assert train["num_bkt"].shape == (160, 1) and train["label"].shape == (160,)
    assert abs(spec.label_mean - frame["click"][:160].mean()) < 1e-6


def test_cache_round_trip_keeps_tensors_and_spec(tmp_path):
    frame = pd.DataFrame({"user": np.arange(100) % 9, "tags": ["x|y", "y"] * 50, "click": np.arange(100) % 2})
    schema = infer_schema(frame, roles={"tags": "sequence"})
    data = encode(frame, schema, np.repeat(np.array([0, 1, 2], dtype=np.int8), [80, 10, 10]))
    write_cache(data, tmp_path)
    back = read_cache(tmp_path)
    assert back.spec == data.spec
    for split, batch in data.splits.items():
        for key, tensor in batch.items():
            assert torch.equal(back.splits[split][key], tensor)


# -- encoding at array speed: the same results as the plain definitions ------------------------------

def _reference_rank_pairs(cat, labels, task):
    """rank_pairs written with np.unique (sorting), as it was before hashing."""
    from automl.features.cross_pairs import MIN_SUPPORT, label_classes

    def mi(codes, y):
        _, x = np.unique(codes, return_inverse=True)
        n_y = int(y.max()) + 1
        joint = np.bincount(x * n_y + y, minlength=(x.max() + 1) * n_y).reshape(-1, n_y) / len(y)
        px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
        nz = joint > 0
        return float((joint[nz] * np.log(joint[nz] / (px @ py)[nz])).sum() - x.max() * (n_y - 1) / (2 * len(y)))

    def pool(codes):
        _, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
        return np.where(counts[inverse] >= MIN_SUPPORT, codes, -1)

    y = label_classes(labels, task)
    single = [mi(pool(cat[:, f]), y) for f in range(cat.shape[1])]
    scores = []
    for i in range(cat.shape[1]):
        for j in range(i + 1, cat.shape[1]):
            gain = mi(pool(cat[:, i] * (int(cat[:, j].max()) + 1) + cat[:, j]), y) - max(single[i], single[j])
            if gain > 0:
                scores.append((gain, i, j))
    return [(i, j) for _, i, j in sorted(scores, reverse=True)]


@pytest.mark.parametrize("seed", range(3))
def test_hashed_pair_ranking_equals_the_sorting_definition(seed):
    from automl.features.cross_pairs import rank_pairs

    rng = np.random.default_rng(seed)
    n = 20_000
    cat = np.stack([rng.zipf(1.5, n) % k for k in (3, 7, 40, 300, 2000)], 1).astype(np.int64)
    logit = np.where((cat[:, 0] + cat[:, 2]) % 2 == 0, 1.0, -1.0) + 0.1 * cat[:, 1]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    fast, slow = rank_pairs(cat, labels, "ctr"), _reference_rank_pairs(cat, labels, "ctr")
    assert fast == slow and fast[0] == (0, 2)


def test_categorical_codes_follow_training_frequency_and_send_unseen_values_to_zero():
    from automl.features.encode import EncodingOptions, encode_categorical

    series = pd.Series([7, 7, 7, 3, 3, 9, 5, None, 3, 7, 11, 9], dtype="Int64")
    is_train = np.array([True] * 9 + [False] * 3)
    codes, code, _ = encode_categorical(series, is_train, EncodingOptions())
    assert len(code.values) + 1 == 5                                            # 7, 3, 9, 5 and the OOV/missing 0
    assert codes.tolist() == [1, 1, 1, 2, 2, 3, 4, 0, 2, 1, 0, 3]
    mixed = pd.Series([12, "12", "x", 12.5], dtype=object)     # read from two files: compared as text
    codes, _, _ = encode_categorical(mixed, np.ones(4, bool), EncodingOptions())
    assert codes[0] == codes[1] != codes[2]
    rare, code, _ = encode_categorical(series, is_train, EncodingOptions(min_count=2))
    assert len(code.values) + 1 == 3 and rare.tolist() == [1, 1, 1, 2, 2, 0, 0, 0, 2, 1, 0, 0]
