"""Reading uploads: formats, encodings and every bad-input message."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from automl.data.read import read_table
from automl.errors import DataError

CSV = b"user_id,item_id,click\n1,10,0\n2,11,1\n3,10,1\n"


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


# --- formats ------------------------------------------------------------------------------------------


def test_csv_from_bytes_has_numeric_and_text_columns():
    raw = read_table(b"user,price,city\nu1,1.5,Paris\nu2,2,Oslo\n", "t.csv")
    assert raw.file_format == "csv" and raw.delimiter == "," and raw.encoding == "utf-8"
    assert list(raw.frame.columns) == ["user", "price", "city"]
    assert raw.frame["price"].dtype == np.float64
    assert raw.frame["city"].tolist() == ["Paris", "Oslo"]
    assert pd.api.types.is_string_dtype(raw.frame["user"].dtype)


def test_csv_from_path_uses_file_name(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_bytes(CSV)
    raw = read_table(path)
    assert raw.frame.shape == (3, 3)
    assert raw.frame["user_id"].dtype == np.int64


@pytest.mark.parametrize("delimiter", ["\t", ";", "|"])
def test_sniffs_delimiters(delimiter):
    data = CSV.replace(b",", delimiter.encode())
    raw = read_table(data, "t.txt")
    assert raw.delimiter == delimiter
    assert raw.file_format == ("tsv" if delimiter == "\t" else "csv")
    assert raw.frame["click"].tolist() == [0, 1, 1]


@pytest.mark.parametrize("delimiter", [None, "::"])
def test_movielens_double_colon_files_are_read(delimiter):
    data = b"1::1193::5::978300760\n1::661::3::978302109\n2::3068::4::978299000\n"
    raw = read_table(data, "ratings.dat", names=["user_id", "item_id", "rating", "timestamp"], delimiter=delimiter)
    assert raw.delimiter == "::" and raw.frame.shape == (3, 4)
    assert raw.frame["item_id"].tolist() == [1193, 661, 3068] and raw.frame["rating"].tolist() == [5, 3, 4]
    titles = read_table(b"id::title::genres\n1::Toy Story (1995)::Animation|Comedy\n2::Heat: A Tale::Crime\n", "m.dat")
    assert titles.frame["title"].tolist() == ["Toy Story (1995)", "Heat: A Tale"]     # one ':' stays text


def test_headerless_file_with_names_keeps_first_line_as_data():
    data = b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n"
    raw = read_table(data, "u.data", names=["user_id", "item_id", "rating", "timestamp"])
    assert len(raw.frame) == 2
    assert raw.frame["user_id"].tolist() == [196, 186]


def test_numeric_header_gets_a_note():
    raw = read_table(b"1,2\n3,4\n", "x.csv")
    assert any("looks like data" in n for n in raw.notes)


def test_crlf_and_quoted_fields():
    data = b'id,title\r\n1,"Shawshank Redemption, The (1994)"\r\n2,"multi\nline ""quoted"""\r\n'
    raw = read_table(data, "q.csv")
    assert raw.frame["title"].tolist() == ["Shawshank Redemption, The (1994)", 'multi\nline "quoted"']


def test_missing_values_and_signed_numbers():
    raw = read_table(b"a,b,label\n1,,+1\n2,x,-1\n,y,+1\n", "m.csv")
    assert np.isnan(raw.frame["a"].iloc[2])
    assert raw.frame["b"].isna().tolist() == [True, False, False]
    assert raw.frame["label"].tolist() == [1, -1, 1]


def test_parquet_by_extension_and_magic():
    frame = pd.DataFrame({"u": [1, 2], "city": ["a", "b"], "hist": [[1, 2], [3]]})
    raw = read_table(_parquet_bytes(frame), "data.bin")
    assert raw.file_format == "parquet" and raw.encoding is None and raw.delimiter is None
    assert raw.frame["city"].tolist() == ["a", "b"]
    assert raw.frame["hist"].tolist() == ["1|2", "3"]
    assert any("hist" in n for n in raw.notes)


def test_parquet_dictionary_column_becomes_plain_values(tmp_path):
    table = pa.table({"c": pa.array(["x", "y", "x"]).dictionary_encode(), "y": [0, 1, 0]})
    path = tmp_path / "d.pq"
    pq.write_table(table, path)
    raw = read_table(path)
    assert raw.frame["c"].tolist() == ["x", "y", "x"]
    assert not isinstance(raw.frame["c"].dtype, pd.CategoricalDtype)


def test_libfm_one_index_per_field_gives_tokens():
    data = b"-1 204:1 4798:1 5041:1\r\n1 42:1 1572:1 5042:1\r\n"
    raw = read_table(data, "frappe.test.libfm")
    assert raw.file_format == "libfm"
    assert list(raw.frame.columns) == ["label", "f1", "f2", "f3"]
    assert raw.frame["label"].tolist() == [-1, 1]
    assert raw.frame["f2"].tolist() == ["4798", "1572"]


def test_libfm_detected_by_content():
    raw = read_table(b"1 3:1 7:1\n0 2:1 8:1\n", "upload.txt")
    assert raw.file_format == "libfm"
    assert raw.frame["f1"].tolist() == ["3", "2"]


def test_libfm_varying_pairs_gives_dense_columns():
    raw = read_table(b"1 3:0.5 7:2\n0 7:1\n1 1:1\n", "x.svm")
    assert list(raw.frame.columns) == ["label", "x1", "x3", "x7"]
    assert raw.frame["x3"].tolist() == [0.5, 0.0, 0.0]
    assert raw.frame["x7"].tolist() == [2.0, 1.0, 0.0]


def test_libfm_too_many_indices():
    lines = [f"1 {i}:0.5 {i + 5000}:1 {i + 9000}:2" for i in range(600)] + ["0 1:1"]
    with pytest.raises(DataError, match=r"'big\.libfm' uses 1,800 distinct feature indices.*at most 1,000"):
        read_table("\n".join(lines).encode(), "big.libfm")


def test_libfm_malformed_line_names_line():
    with pytest.raises(DataError, match=r"line 3 of 'bad\.libfm' is not a libFM row.*'1 3:x'"):
        read_table(b"1 3:1\n\n1 3:x\n", "bad.libfm")


# --- encodings ----------------------------------------------------------------------------------------


def test_utf8_bom():
    raw = read_table(b"\xef\xbb\xbf" + CSV, "bom.csv")
    assert raw.encoding == "utf-8-sig"
    assert raw.frame.columns[0] == "user_id"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le"])
def test_utf16_with_and_without_bom(codec):
    text = "name,click\nJosé,1\nZoë,0\n"
    raw = read_table(text.encode(codec), "u16.csv")
    assert raw.encoding.startswith("utf-16")
    assert raw.frame["name"].tolist() == ["José", "Zoë"]


def test_latin1_fallback_with_note():
    raw = read_table("city,click\nMünchen,1\nSão Paulo,0\n".encode("latin-1"), "l1.csv")
    assert raw.encoding == "latin-1"
    assert raw.frame["city"].tolist() == ["München", "São Paulo"]
    assert "decoded as Latin-1 (not valid UTF-8)" in raw.notes


def test_undecodable_text_after_utf8_bom():
    with pytest.raises(DataError, match=r"'bad\.csv' could not be decoded as UTF-8.*save it again as UTF-8"):
        read_table(b"\xef\xbb\xbfa,b\n\xff\xfe\xfa,1\n", "bad.csv")


def test_undecodable_utf16():
    data = "a,b\n1,2\n".encode("utf-16") + b"\x00\xd8"  # a lone surrogate
    with pytest.raises(DataError, match=r"could not be decoded as UTF-16"):
        read_table(data, "u.csv")


# --- bad inputs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"  \n\r\n\t ", b"\xef\xbb\xbf", "\n ".encode("utf-16")])
def test_empty_file(data):
    with pytest.raises(DataError, match=r"'e\.csv' is empty"):
        read_table(data, "e.csv")


def test_header_only():
    with pytest.raises(DataError, match=r"'h\.csv' has a header but no data rows"):
        read_table(b"a,b,c\n", "h.csv")


def test_binary_garbage():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match=r"'g\.csv' does not look like a text table \(CSV/TSV\), a Parquet file"):
        read_table(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "g.csv")


def test_control_characters_without_nul_are_garbage():
    data = bytes(range(1, 9)) * 200 + b"a,b\n1,2\n"
    with pytest.raises(DataError, match="does not look like a text table"):
        read_table(data, "c.csv")


def test_wrong_delimiter_says_which_one_the_file_uses():
    with pytest.raises(DataError, match=r"single column when split on ';'.*seems to use ',' \(comma\) \(3 columns\)"):
        read_table(CSV, "w.csv", delimiter=";")


def test_given_delimiter_is_used():
    raw = read_table(b"a;b\n1,5;2\n", "x.csv", delimiter=";")
    assert raw.frame["a"].tolist() == ["1,5"]


@pytest.mark.parametrize(
    ("data", "line", "fields"),
    [
        (b"a,b,c\n1,2,3\n4,5,6,7\n", 3, 4),
        (b"a,b,c\n1,2,3\n\n1,2,3\n4,5\n", 5, 2),
        (b"\r\n\r\na,b,c\r\n1,2,3\r\n4,5\r\n", 5, 2),
    ],
)
def test_ragged_rows_name_line_and_counts(data, line, fields):
    with pytest.raises(DataError, match=rf"line {line} of 'r\.csv' has {fields} fields but the header has 3"):
        read_table(data, "r.csv")


def test_ragged_row_in_a_large_file_is_the_first_one():
    body = b"".join(b"%d,%d,1\n" % (i, i) for i in range(200_000))
    data = b"a,b,c\n" + body + b"1,2\n" + body + b"1,2,3,4\n"
    with pytest.raises(DataError, match=r"line 200002 of 'big\.csv' has 2 fields"):
        read_table(data, "big.csv")


def test_duplicate_column_names_are_named():
    with pytest.raises(DataError, match=r"duplicate column names: 'a', 'b'"):
        read_table(b"a,b, a,b,c\n1,2,3,4,5\n", "d.csv")


def test_file_over_size_cap(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(CSV * 1000)
    expected = r"'big\.csv' is 43,000 bytes, over the upload limit of 1,000 bytes.*CROSSBOARD_MAX_UPLOAD_MB"
    with pytest.raises(DataError, match=expected):
        read_table(path, max_bytes=1000)


def test_size_cap_from_environment(monkeypatch):
    monkeypatch.setenv("CROSSBOARD_MAX_UPLOAD_MB", "0.5")
    with pytest.raises(DataError, match=r"is 1\.0 MB, over the upload limit of 0\.5 MB"):
        read_table(b"a,b\n" + b"1,2\n" * (256 * 1024), "env.csv")


def test_corrupted_parquet():
    data = _parquet_bytes(pd.DataFrame({"a": range(100)}))
    with pytest.raises(DataError, match=r"'x\.parquet' could not be read as Parquet.*export it again"):
        read_table(data[:40] + data[-20:], "x.parquet")


def test_names_length_mismatch():
    with pytest.raises(DataError, match=r"you gave 2 column names but the first line of 'n\.tsv' has 4 fields"):
        read_table(b"1\t2\t3\t4\n", "n.tsv", names=["a", "b"])


def test_missing_path():
    with pytest.raises(DataError, match="not found"):
        read_table("/nonexistent/file.csv")


# --- column names ---------------------------------------------------------------------------------------


def test_odd_column_names_round_trip():
    names = ['say "hi"', "x'; DROP TABLE cb_datasets; --", "<script>alert(1)</script>", "two words", "日本語 ü"]
    frame = pd.DataFrame({n: [1, 2] for n in names})
    data = frame.to_csv(index=False).encode()
    raw = read_table(data, "names.csv")
    assert list(raw.frame.columns) == names
    assert list(read_table(_parquet_bytes(frame), "n.parquet").frame.columns) == names


def test_header_whitespace_stripped_and_empty_cells_named():
    raw = read_table(b" a ,,c,\n1,2,3,4\n", "e.csv")
    assert list(raw.frame.columns) == ["a", "column_2", "c", "column_4"]
    assert any("column_2, column_4" in n for n in raw.notes)
