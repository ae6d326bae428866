"""Tables larger than memory: read in blocks into the stored Parquet copy, checked and encoded one
column at a time into memory-mapped tensors, with the same results as the in-memory path."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from automl.data import datasets, stream, timestamps
from automl.data.columns import ParquetColumns
from automl.data.demo import demo_frame
from automl.data.infer_schema import infer_schema
from automl.data.timestamps import timestamps_of
from automl.errors import DataError
from automl.features.cross_pairs import rank_pairs
from automl.features.encode import EncodingOptions, encode, time_fields
from automl.features.prepare import cache_path, memory_mapped, prepared_data
from automl.features.splits import make_split
from automl.search.config import StudyConfig
from automl.search.data import study_data
from storage import Store


def log_frame(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """A click log with every kind of column: ids, codes, counts with gaps, text, a compact hour,
    a column that turns to text only near the end, and missing codes."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "click": rng.integers(0, 2, n),
        "user_id": rng.integers(0, 300, n),
        "item_id": rng.integers(0, 200, n),
        "C1": [f"{v:08x}" for v in rng.integers(0, 2**32, 40)[rng.integers(0, 40, n)]],
        "site": rng.choice(["news", "sports", "mail", None], n),
        "I1": np.where(rng.random(n) < 0.1, np.nan, np.floor(rng.lognormal(1, 1, n))),
        "price": rng.random(n).round(3),
        "late_text": rng.integers(0, 9, n).astype(str),
        "hour": 14102100 + rng.integers(0, 10, n) * 100 + rng.integers(0, 24, n),
    })
    frame.loc[n - 5, "late_text"] = "other"
    return frame


@pytest.fixture
def small_blocks(monkeypatch):
    """A few KB of head and of block: the file is read in many blocks, past a tiny memory limit."""
    monkeypatch.setattr(stream, "HEAD_BYTES", 20_000)
    monkeypatch.setattr(stream, "BLOCK_BYTES", 30_000)


def test_a_file_read_in_blocks_is_the_same_dataset_as_in_memory(tmp_path, small_blocks):
    frame = log_frame()
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    whole = datasets.inspect(path)
    blocks = datasets.inspect(path, spool=tmp_path / "spool", memory_bytes=10_000)
    assert isinstance(blocks.raw.frame, ParquetColumns)
    assert blocks.raw.frame.path.stat().st_size < path.stat().st_size       # never the whole text in memory
    assert blocks.digest == whole.digest and blocks.problem is None and whole.problem is None
    pd.testing.assert_frame_equal(blocks.raw.frame.to_pandas(), whole.raw.frame)
    assert blocks.raw.frame["late_text"].iloc[-5] == "other"                # widened after the first block
    assert [(c.name, c.role) for c in blocks.schema.columns] == [(c.name, c.role) for c in whole.schema.columns]
    assert any("read in blocks" in note for note in blocks.raw.notes)

    a, b = Store(f"sqlite:///{tmp_path / 'a.db'}"), Store(f"sqlite:///{tmp_path / 'b.db'}")
    saved_whole = datasets.save(a, whole, name="log")
    saved_blocks = datasets.save(b, blocks, name="log", home=tmp_path / "home")
    assert saved_blocks.id == saved_whole.id and saved_blocks.n_rows == len(frame)
    local = tmp_path / "home" / "datasets" / f"{saved_blocks.id}.parquet"
    assert local.exists() and not blocks.raw.frame.path.exists()             # moved, not copied
    fetched = tmp_path / "fetched.parquet"
    b.write_dataset_parquet(saved_blocks.id, fetched)
    assert fetched.read_bytes() == local.read_bytes()


def test_a_parquet_file_read_in_blocks_is_the_same_dataset(tmp_path, small_blocks):
    frame = log_frame(3000)
    path = tmp_path / "log.parquet"
    frame.to_parquet(path, row_group_size=500)
    whole = datasets.inspect(path)
    blocks = datasets.inspect(path, spool=tmp_path / "spool", memory_bytes=1000)
    assert blocks.digest == whole.digest
    pd.testing.assert_frame_equal(blocks.raw.frame.to_pandas(), whole.raw.frame)


def test_a_ragged_row_in_a_later_block_is_named(tmp_path, small_blocks):
    frame = log_frame(3000)
    path = tmp_path / "log.csv"
    text = frame.to_csv(index=False).splitlines()
    text[2500] += ",1"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match="has 10 fields but the header has 9"):
        datasets.inspect(path, spool=tmp_path / "spool", memory_bytes=1000)


def test_a_libfm_file_past_the_limit_says_how_to_go_on(tmp_path, small_blocks):
    path = tmp_path / "big.libfm"
    path.write_text("".join(f"{i % 2} {i % 7}:1 {10 + i % 5}:1\n" for i in range(3000)))
    with pytest.raises(DataError, match="CSV/TSV .* or Parquet"):
        datasets.inspect(path, spool=tmp_path / "spool", memory_bytes=1000)


def test_column_by_column_encoding_into_mapped_files_equals_the_in_memory_encoding(tmp_path):
    frame = log_frame()
    inspection = datasets.inspect(frame.to_csv(index=False).encode(), "log.csv")
    schema = inspection.schema
    assignment, _ = make_split(frame["click"].to_numpy(), "ctr", None)
    frame.to_parquet(tmp_path / "log.parquet")
    in_memory = encode(inspection.raw.frame, schema, assignment)
    (tmp_path / "out").mkdir()
    mapped = encode(ParquetColumns(tmp_path / "log.parquet"), schema, assignment,
                    allocate=memory_mapped(tmp_path / "out"))
    assert mapped.spec == in_memory.spec
    assert {f.side for f in in_memory.spec.fields} >= {"user", "item"}
    for split, batch in in_memory.splits.items():
        assert batch.keys() == mapped.splits[split].keys()
        for key, tensor in batch.items():
            assert torch.equal(mapped.splits[split][key], tensor), (split, key)
    assert len(list((tmp_path / "out").glob("*.npy"))) >= 3 * 4


def test_prepared_tensors_are_mapped_from_the_cache_and_the_pair_ranking_is_lazy(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    frame = log_frame()
    row = datasets.save(store, datasets.inspect(frame.to_csv(index=False).encode(), "log.csv"), name="log")
    home = tmp_path / "home"
    plain = prepared_data(store, row, home)
    assert plain.spec.ranked_pairs == ()
    folder = cache_path(row, home, EncodingOptions())
    assert (folder / "train.cat.npy").exists() and not (folder / "ranked_pairs.json").exists()
    before = plain.splits["train"]["cat"][0, 0].item()
    plain.splits["train"]["cat"][0, 0] = before + 1                # copy-on-write: the file keeps its value
    fresh = prepared_data(store, row, home).splits["train"]
    assert fresh["cat"][0, 0].item() == before
    ranked = prepared_data(store, row, home, ranked_pairs=True)
    expected = rank_pairs(fresh["cat"].numpy(), fresh["label"].numpy(), "ctr", buckets=fresh["num_bkt"].numpy())
    assert ranked.spec.ranked_pairs == tuple(tuple(p) for p in expected) and expected
    assert (folder / "ranked_pairs.json").exists()
    assert prepared_data(store, row, home, ranked_pairs=True).spec.ranked_pairs == ranked.spec.ranked_pairs


def test_time_fields_give_the_hour_and_the_weekday_of_a_compact_timestamp():
    n = 96
    frame = pd.DataFrame({"click": np.arange(n) % 2, "site": np.array(["a", "b", "c"])[np.arange(n) % 3],
                          "hour": 14102100 + np.arange(n) % 24 + 100 * (np.arange(n) // 24)})  # 21..24 Oct 2014
    schema = replace(infer_schema(frame), time_fields=True)
    assert schema.column("hour").role == "timestamp" and schema.column("hour").time_format == "%y%m%d%H"
    derived = time_fields(schema, timestamps_of(frame, schema))
    assert list(derived["hour hour"]) == list(np.arange(n) % 24)
    assert list(derived["hour weekday"]) == list(1 + np.arange(n) // 24)         # Tuesday 21 Oct 2014 = 1
    data = encode(frame, schema, np.zeros(n, np.int8))
    assert [(f.name, f.cardinality) for f in data.spec.fields][-2:] == [("hour hour", 25), ("hour weekday", 5)]
    assert time_fields(infer_schema(frame), timestamps_of(frame, schema)) == {}


def test_only_a_study_with_wide_and_deep_ranks_field_pairs(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    planted = demo_frame(n_rows=3000, n_users=60, n_items=40)            # planted pairwise effects
    row = datasets.save(store, datasets.inspect(planted.to_csv(index=False).encode(), "demo.csv"), name="demo")
    study = SimpleNamespace(dataset_id=row.id, task=None)
    without = study_data(store, study, StudyConfig(models=["lr", "fm"]), tmp_path, torch.device("cpu"))
    assert without.spec.ranked_pairs == ()
    with_wide = study_data(store, study, StudyConfig(models=["lr", "wide_deep"]), tmp_path, torch.device("cpu"))
    assert with_wide.spec.ranked_pairs and torch.equal(with_wide.splits["train"]["cat"], without.splits["train"]["cat"])


def test_an_encoding_parses_the_timestamp_column_once(tmp_path, monkeypatch):
    """The split, the hour and weekday fields and the derived history all use one parse of the column."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    inspection = datasets.inspect(demo_frame(n_rows=2000, n_users=50, n_items=30).to_csv(index=False).encode(),
                                  "demo.csv")
    schema = replace(inspection.schema, time_fields=True)
    row = datasets.save(store, inspection, schema, name="demo")
    parsed, parse = [], timestamps.parse_timestamps
    monkeypatch.setattr(timestamps, "parse_timestamps",
                        lambda series, time_format=None: parsed.append(series.name) or parse(series, time_format))
    data = prepared_data(store, row, tmp_path)
    assert parsed == ["timestamp"]
    assert data.spec.history is not None and "timestamp hour" in [f.name for f in data.spec.fields]
