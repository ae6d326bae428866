"""Hostile files, each made small: Parquet bombs, very wide tables, Arrow types with no plain reading,
infinite numbers, mixed encodings, and the rows `crossboard predict` and an exported predict.py score.
Every refusal is a DataError (exit status 2 at the command line) with one paragraph naming the problem
and the fix, no traceback, and no dataset stored."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from automl import cli
from automl.data import datasets, read, stream
from automl.data.demo import demo_frame
from automl.data.read import read_table
from automl.errors import DataError
from automl.features.encode import encode
from automl.features.splits import make_split
from automl.serving import score
from automl.serving.export import input_keys, predict_script, to_onnx
from automl.serving.score import Member, Scorer, score_file
from models import REGISTRY
from storage import Store


def parquet_bytes(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def clicks(n: int, **columns) -> pa.Table:
    """A small click log with the given extra columns."""
    return pa.table({"click": [i % 2 for i in range(n)], "user_id": [f"u{i % 7}" for i in range(n)],
                     "item_id": [f"i{i % 5}" for i in range(n)], **columns})


def ingest(path: Path, capsys, *options: str) -> tuple[int, str]:
    """`crossboard ingest PATH OPTIONS` in this process (so a lowered limit applies): (exit status, stderr)."""
    code = cli.main(["ingest", str(path), *options])
    return code, capsys.readouterr().err


def refused(code: int, err: str, *phrases: str) -> None:
    """Exit status 2, one line naming ``phrases``, no traceback and no dataset stored."""
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)
    assert Store().datasets() == []


# --- 4: Parquet decompression bombs ---------------------------------------------------------------------


def test_a_parquet_file_past_the_in_memory_limits_is_refused_from_its_metadata(home, tmp_path, capsys, monkeypatch):
    path = tmp_path / "bomb.parquet"
    path.write_bytes(parquet_bytes(clicks(1000), row_group_size=1000))     # 3,000 values in a few KB
    monkeypatch.setattr(read, "MAX_PARQUET_VALUES", 1000)
    monkeypatch.setattr(pq.ParquetFile, "read", lambda *a, **k: pytest.fail("a value was decoded"))
    refused(*ingest(path, capsys), "decodes into 3,000 values (1,000 rows), over the limit of 1,000",
            "crossboard ingest FILE --memory-mb 0", "split it into smaller files")
    monkeypatch.setattr(read, "MAX_PARQUET_VALUES", 10**9)
    monkeypatch.setattr(read, "MAX_PARQUET_BYTES", 2000)
    with pytest.raises(DataError, match=r"decodes into [\d,]+ bytes of values \(1,000 rows\), over the limit of 2,000"):
        read_table(path)


def test_a_dictionary_of_long_strings_is_measured_before_it_is_expanded(home, tmp_path, capsys, monkeypatch):
    long = pa.DictionaryArray.from_arrays(pa.array([0] * 200, pa.int32()), pa.array(["x" * 100_000]))
    path = tmp_path / "repeated.parquet"
    path.write_bytes(parquet_bytes(clicks(200, title=long), compression="zstd"))     # 20 MB of text in a few KB
    monkeypatch.setattr(read, "MAX_PARQUET_BYTES", 2**20)
    expected = ("column 'title' of 'repeated.parquet' decodes into 19.1 MB of text (19.1 MB with the columns",
                "over the limit of 1.0 MB", "Drop the column, or split the file")
    refused(*ingest(path, capsys), *expected)
    refused(*ingest(path, capsys, "--memory-mb", "0"), *expected)      # read in blocks: each block checked


def test_a_parquet_file_is_read_in_blocks_within_a_bounded_number_of_values(tmp_path, monkeypatch):
    path = tmp_path / "log.parquet"
    pq.write_table(clicks(3000, price=[float(i) for i in range(3000)]), path, row_group_size=3000)
    monkeypatch.setattr(stream, "BLOCK_VALUES", 1000)
    seen = []
    original = read.flatten_parquet_column
    monkeypatch.setattr(stream, "flatten_parquet_column", lambda *a, **k: seen.append(len(a[2])) or original(*a, **k))
    inspection = datasets.inspect(path, spool=tmp_path / "spool", memory_bytes=0)
    assert len(inspection.raw.frame) == 3000 and max(seen) == 250           # 4 columns: 250 rows a block


# --- 5: very wide tables ----------------------------------------------------------------------------------


def test_a_table_wider_than_the_column_limit_is_refused_from_its_header(home, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(read, "MAX_COLUMNS", 50)
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(51)) + "\n" + ("1," * 50 + "1\n") * 3)
    refused(*ingest(path, capsys), "'wide.csv' has 51 columns (in its first line); CrossBoard reads at "
            "most 50", "drop the rest")
    pq.write_table(pa.table({f"c{i}": [1, 2] for i in range(51)}), tmp_path / "wide.parquet")
    refused(*ingest(tmp_path / "wide.parquet", capsys), "has 51 columns (in its Parquet metadata)")


def test_a_libfm_file_with_too_many_fields_per_row_is_refused_in_every_layout(home, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(read, "MAX_LIBFM_COLUMNS", 20)
    path = tmp_path / "wide.libfm"
    path.write_text("".join("1 " + " ".join(f"{j}:1" for j in range(21)) + "\n" for _ in range(3)))
    refused(*ingest(path, capsys), "has 21 features on every row", "at most 20",
            "convert it to a CSV with one column per field")


# --- 9: Arrow types ---------------------------------------------------------------------------------------

N = 40
REFUSED_TYPES = {
    "list<struct>": (pa.array([[{"a": i}] for i in range(N)]), "holds lists of records or of lists",
                     "make it a list of plain values"),
    "list<list>": (pa.array([[[i, i + 1]] for i in range(N)]), "holds lists of records or of lists",
                   "make it a list of plain values"),
    "struct": (pa.array([{"a": i} for i in range(N)]), "holds nested records", "flatten it into plain columns"),
    "map": (pa.array([[("k", i)] for i in range(N)], pa.map_(pa.string(), pa.int64())), "holds key-value maps",
            "give each key a column of its own"),
    "binary": (pa.array([b"ok"] * 5 + [b"\xff\xfe"] * (N - 5), pa.binary()),
               "holds binary values that are not UTF-8 text (row 6, type binary)", "store them as text"),
    "list<binary>": (pa.array([[b"\xff"]] * N, pa.list_(pa.binary())), "holds values that are not UTF-8 text",
                     "store them as text"),
}


@pytest.mark.parametrize("kind", list(REFUSED_TYPES))
def test_a_column_of_a_type_with_no_plain_reading_is_refused_naming_it(home, tmp_path, capsys, kind):
    values, problem, fix = REFUSED_TYPES[kind]
    path = tmp_path / "typed.parquet"
    pq.write_table(clicks(N, odd=values), path)
    refused(*ingest(path, capsys), "column 'odd' of 'typed.parquet'", problem, fix)


def test_dates_outside_pandas_range_are_read_as_text_with_a_note(store, home):
    days = [dt.date(9909, 1, 1) + dt.timedelta(days=i) for i in range(N)]
    table = clicks(N, born=pa.array([dt.datetime(1, 1, 1) + dt.timedelta(days=i) for i in range(N)], pa.timestamp("us")),
                   until=pa.array([dt.datetime(3000, 1, 1)] * N, pa.timestamp("ms", tz="UTC")),
                   date=pa.array(days, pa.date32()), price=pa.array([Decimal(f"{i}.25") for i in range(N)]),
                   code=pa.array([b"a", b"b"] * (N // 2), pa.binary()))
    inspection = datasets.inspect(parquet_bytes(table), "dates.parquet")
    frame = inspection.raw.frame
    assert frame["born"].iloc[0] == "0001-01-01 00:00:00.000000" and frame["date"].iloc[0] == "9909-01-01"
    assert frame["until"].iloc[0].startswith("3000-01-01 00:00:00")
    assert next(n for n in inspection.raw.notes if "outside 1677–2262" in n).startswith(
        "column 'born' holds dates outside 1677–2262 (from 0001-01-01")
    assert frame["price"].tolist()[:2] == [0.25, 1.25] and frame["code"].tolist()[:2] == ["a", "b"]
    assert inspection.problem is None
    row = datasets.save(store, inspection, home=home)
    schema = datasets.schema_of(row)
    encode(datasets.load_frame(store, row, home), schema, np.zeros(N, np.int8))


def test_dates_out_of_range_in_a_later_block_make_the_column_text_in_every_block(tmp_path, monkeypatch):
    times = [dt.datetime(2020, 1, 1)] * 3000 + [dt.datetime(3000, 1, 1)]
    path = tmp_path / "late.parquet"
    pq.write_table(clicks(3001, seen=pa.array(times, pa.timestamp("us"))), path, row_group_size=1000)
    monkeypatch.setattr(stream, "BLOCK_VALUES", 4000)
    raw, _ = stream.stream_table(path, "late.parquet", tmp_path / "copy.parquet")
    seen = raw.frame["seen"]
    assert seen.iloc[0] == "2020-01-01 00:00:00.000000" and seen.iloc[-1] == "3000-01-01 00:00:00.000000"


def test_a_libfm_index_past_int64_is_refused_naming_its_line(home, tmp_path, capsys):
    path = tmp_path / "big.libfm"
    path.write_text("1 3:0.5 7:1\n0 7:1\n1 99999999999999999999:1\n")
    refused(*ingest(path, capsys), "line 3 of 'big.libfm' has the feature index 99999999999999999999",
            "number the features from 0")


# --- 10: infinite numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["inf", "1e309", "-Infinity"])
def test_an_infinite_number_in_a_numeric_column_is_refused_naming_its_row(home, tmp_path, capsys, written):
    frame = demo_frame(n_rows=200, n_users=20, n_items=15, seed=1).astype({"price": object})
    frame.loc[6, "price"] = written
    path = tmp_path / "inf.csv"
    frame.to_csv(path, index=False)
    code, err = ingest(path, capsys)
    refused(code, err, "empty that cell (it then counts as missing) or write a finite number")
    assert re.search(r"numeric column 'price' holds an infinite number \('-?inf' in row 7\)", err)
    frame.loc[6, "price"] = "oops"                       # a word: counted as missing, as before
    frame.to_csv(path, index=False)
    code, _ = ingest(path, capsys)
    assert code == 0


def test_an_infinite_rating_and_an_overflowing_libfm_label_are_refused(home, tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id,rating\n" + "".join(f"u{i % 9},i{i % 7},{i % 5 + 1}\n" for i in range(30))
                    + "u1,i2,inf\n")
    refused(*ingest(path, capsys, "--task", "rating"), "label 'rating' holds an infinite number ('inf' "
            "in row 31)")
    path = tmp_path / "labels.libfm"
    path.write_text("1 3:1 7:1\n0 2:1 8:1\n1e400 2:1 7:1\n")
    refused(*ingest(path, capsys), "line 3 of 'labels.libfm' has the label '1e400', past the range of "
            "numbers", "fix that line")


# --- 13: a file of UTF-8 lines with a few in another encoding ---------------------------------------------


def test_utf8_lines_stay_utf8_when_a_few_lines_are_latin1(home, tmp_path, capsys, monkeypatch):
    data = ("city,click\ncafé,1\n".encode() + "Zürich,0\n".encode("latin-1") + "naïve,1\nplain,0\n".encode())
    raw = read_table(data, "mixed.csv")
    assert raw.frame["city"].tolist() == ["café", "Zürich", "naïve", "plain"]
    assert raw.notes == [("line 3 is not valid UTF-8 and was decoded as Latin-1, the other lines as UTF-8; check "
                          "those lines, or save the file as UTF-8")]
    path = tmp_path / "mixed.csv"
    path.write_bytes(data + b"".join(f"x{i},{i % 2}\n".encode() for i in range(200)))
    monkeypatch.setattr(stream, "HEAD_BYTES", 500)
    refused(*ingest(path, capsys, "--memory-mb", "0"), "'mixed.csv' is UTF-8 text but for some lines "
            "(line 3 is not valid UTF-8", "save it as UTF-8 and ingest it again")


# --- 12: scoring new rows --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer_parts():
    """A study's parts without a study: a fitted encoder and a seeded (untrained) LR model over it."""
    frame = demo_frame(n_rows=300, n_users=20, n_items=15, seed=1)
    schema = datasets.inspect(frame.to_csv(index=False).encode(), "clicks.csv").schema
    assignment, _ = make_split(frame["click"].to_numpy(), "ctr", None)
    data = encode(frame, schema, assignment)
    torch.manual_seed(0)
    card = REGISTRY["lr"]
    return frame.head(60), data, Member("lr", 0, card.build(data.spec, dict(card.defaults)).eval(), None)


def new_scorer(scorer_parts) -> Scorer:
    _, data, member = scorer_parts
    return Scorer("ctr", data, {"lr": member}, {"lr": 1.0}, "lr (trial 0)")


def scored(scorer: Scorer, path: Path) -> pd.DataFrame:
    parts: list[pd.DataFrame] = []
    score_file(scorer, path, path.parent / "spool", lambda chunk, first: parts.append(chunk))
    return pd.concat(parts)


def test_predict_notes_text_refuses_infinity_and_never_overwrites_a_column(scorer_parts, tmp_path):
    rows = scorer_parts[0]
    rows.to_csv(tmp_path / "rows.csv", index=False)
    expected = scored(new_scorer(scorer_parts), tmp_path / "rows.csv")["probability"].to_numpy()
    noted = rows.assign(probability=0.5).astype({"price": object})
    noted.loc[noted.index[3], "price"] = "n/a?"
    noted.to_csv(tmp_path / "noted.csv", index=False)
    scorer = new_scorer(scorer_parts)
    out = scored(scorer, tmp_path / "noted.csv")
    assert (out["probability"] == 0.5).all() and scorer.output == "probability_1"
    assert np.allclose(np.delete(out["probability_1"].to_numpy(), 3), np.delete(expected, 3))
    assert scorer.notes == ["the file has a column 'probability': the scores are in 'probability_1'",
                            "column 'price': 1 value is not a number (e.g. 'n/a?' in row 4); they count as missing."]
    infinite = rows.astype({"price": object})
    infinite.loc[infinite.index[8], "price"] = "inf"
    infinite.to_csv(tmp_path / "inf.csv", index=False)
    with pytest.raises(DataError, match=r"numeric column 'price' holds an infinite number \('inf' in row 9\)"):
        scored(new_scorer(scorer_parts), tmp_path / "inf.csv")
    rows.assign(price="words").to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match="100% of its values are not numbers .*score a file whose column holds numbers"):
        scored(new_scorer(scorer_parts), tmp_path / "text.csv")


def test_predict_reads_parquet_in_blocks_like_csv(scorer_parts, tmp_path, monkeypatch):
    rows = scorer_parts[0]
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_parquet(tmp_path / "rows.parquet", index=False)
    monkeypatch.setattr(score, "CHUNK_ROWS", 7)
    from_csv, from_parquet = (scored(new_scorer(scorer_parts), tmp_path / f"rows.{ext}") for ext in ("csv", "parquet"))
    assert np.allclose(from_csv["probability"], from_parquet["probability"])
    assert not list((tmp_path / "spool").iterdir())                     # the block copy is gone


def test_crossboard_predict_leaves_no_partial_output_when_it_refuses(scorer_parts, home, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr(cli, "find_study", lambda store, ref: ref)
    monkeypatch.setattr(score, "study_scorer", lambda *a, **k: new_scorer(scorer_parts))
    rows = scorer_parts[0].assign(probability=0.5)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert cli.main(["predict", "s", str(tmp_path / "rows.csv"), "--out", str(tmp_path / "out.csv")]) == 0
    assert "column 'probability_1' written to" in capsys.readouterr().err
    assert list(pd.read_csv(tmp_path / "out.csv").columns[-2:]) == ["probability", "probability_1"]
    rows.assign(price=[*[1.0] * 59, np.inf]).to_csv(tmp_path / "inf.csv", index=False)
    code = cli.main(["predict", "s", str(tmp_path / "inf.csv"), "--out", str(tmp_path / "inf-out.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "'inf' in row 60" in err and "Traceback" not in err
    assert not (tmp_path / "inf-out.csv").exists() and not (tmp_path / "inf-out.csv.part").exists()


@pytest.fixture(scope="module")
def exported(scorer_parts, tmp_path_factory) -> Path:
    """An export folder of the LR scorer: model.onnx, encoder.json, predict.py."""
    _, data, member = scorer_parts
    folder = tmp_path_factory.mktemp("export")
    example = {k: v[:16] for k, v in data.splits["val"].items()}
    to_onnx(member, "ctr", input_keys(new_scorer(scorer_parts)), example, folder / "model.onnx")
    (folder / "encoder.json").write_text(data.encoder.to_json())
    (folder / "predict.py").write_text(predict_script("probability"))
    return folder


def run_predict(folder: Path, rows: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(folder / "predict.py"), str(rows)], capture_output=True, text=True,
                          check=False, cwd=rows.parent)


def test_the_exported_script_reads_parquet_and_refuses_bad_rows_in_one_line(scorer_parts, exported, tmp_path):
    rows = scorer_parts[0]
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_parquet(tmp_path / "rows.parquet", index=False)
    expected = scored(new_scorer(scorer_parts), tmp_path / "rows.csv")["probability"]
    for name in ("rows.csv", "rows.parquet"):
        run = run_predict(exported, tmp_path / name)
        assert run.returncode == 0, run.stderr
        assert np.allclose(pd.read_csv(io.StringIO(run.stdout))["probability"], expected, atol=1e-5)
    rows.assign(probability=0.5).to_csv(tmp_path / "again.csv", index=False)
    run = run_predict(exported, tmp_path / "again.csv")
    assert (pd.read_csv(io.StringIO(run.stdout))["probability"] == 0.5).all()
    assert "note: the file has a column 'probability': the scores are in 'probability_1'" in run.stderr
    text = rows.to_csv(index=False).splitlines()
    text[5] = text[5].rsplit(",", 2)[0]
    (tmp_path / "ragged.csv").write_text("\n".join(text) + "\n")
    rows.drop(columns=["price"]).to_csv(tmp_path / "short.csv", index=False)
    rows.assign(price=[*[1.0] * 59, np.inf]).to_csv(tmp_path / "inf.csv", index=False)
    for name, message in [("ragged.csv", "line 6 of "), ("short.csv", "lacks the column 'price'"),
                          ("inf.csv", "'inf' in row 60")]:
        run = run_predict(exported, tmp_path / name)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert run.stderr.strip().splitlines()[-1].startswith("error: ") and message in run.stderr
