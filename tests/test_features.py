"""Encoding: vocabularies, OOV, numeric standardization, buckets, sequences, sides, cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
    codes, card = encode_categorical(values, is_train, EncodingOptions(min_count=2))
    assert card == 3                                       # OOV + a + b ("c" seen once)
    assert codes.tolist() == [1, 2, 1, 0, 1, 2, 0, 0]       # most frequent first; unseen / missing -> 0


def test_categorical_vocabulary_is_capped_by_frequency():
    values = pd.Series(list("aaabbc"))
    codes, card = encode_categorical(values, np.ones(6, bool), EncodingOptions(max_vocab=2))
    assert card == 3 and codes.tolist() == [1, 1, 1, 2, 2, 0]


def test_numeric_is_standardized_on_training_rows_with_a_missing_flag_and_buckets():
    values = pd.Series([1.0, 2.0, 3.0, None, 100.0])
    is_train = np.array([1, 1, 1, 1, 0], dtype=bool)
    standardized, flags, buckets, card = encode_numeric(values, is_train, n_buckets=2)
    mean, std = 2.0, np.std([1.0, 2.0, 3.0])
    np.testing.assert_allclose(standardized, [(1 - mean) / std, 0, (3 - mean) / std, 0, (100 - mean) / std], rtol=1e-6)
    assert flags.tolist() == [0, 0, 0, 1, 0]
    assert buckets[3] == 0 and buckets[0] < buckets[2] and buckets[4] == buckets.max()
    assert card == buckets.max() + 1


def test_numeric_without_gaps_has_no_flag_column():
    _, flags, _, _ = encode_numeric(pd.Series([1.0, 2.0, 3.0]), np.ones(3, bool), 4)
    assert flags is None


def test_sequence_keeps_the_newest_tokens_left_aligned():
    series = pd.Series(["a|b|c|d", "b", "", None])
    tokens, card = encode_sequence(series, "|", np.ones(4, bool), EncodingOptions(max_seq_len=3))
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
    write_cache(data, tmp_path / "c.safetensors")
    back = read_cache(tmp_path / "c.safetensors")
    assert back.spec == data.spec
    for split, batch in data.splits.items():
        for key, tensor in batch.items():
            assert torch.equal(back.splits[split][key], tensor)
