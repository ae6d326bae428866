"""A dataset registered by reference (``crossboard ingest URL --by-reference``): the database keeps its URL
and digest, never its rows; a worker whose home is empty copies the file from the URL, checks the digest and
refuses a file that changed; a file that is not Parquet, or that cannot be read, leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_helpers import ROOT, crossboard

from automl import cli
from automl.data import datasets
from automl.data.demo import demo_frame
from automl.errors import DataError
from storage import Store
from storage.tables import DatasetChunkRow, DatasetRow


def shared_parquet(folder: Path, seed: int = 0) -> Path:
    """A tiny click log as Parquet in a "shared" folder (a space in its name, as shared folders have)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "click log.parquet"
    demo_frame(n_rows=600, n_users=30, n_items=20, seed=seed).to_parquet(path)
    return path


def chunk_count(store: Store, dataset_id: str) -> int:
    with store.reading() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(DatasetChunkRow)
                        .where(DatasetChunkRow.dataset_id == dataset_id))


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("form,database", [("path", "sqlite"), ("file url", "postgresql")])
def test_a_worker_with_an_empty_home_reads_the_url_not_the_database(form, database, tmp_path, request):
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    path = shared_parquet(tmp_path / "shared")
    url = str(path) if form == "path" else path.as_uri()          # file:///…/click%20log.parquet
    db = f"sqlite:///{tmp_path / 'shared.db'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    ingest = crossboard(machine_a, "ingest", url, "--by-reference", "--name", "log", CROSSBOARD_DB=db)
    assert ingest.returncode == 0, ingest.stderr
    assert "by reference" in ingest.stdout and "the database keeps no copy" in ingest.stdout

    store = Store(db)
    row = store.find_dataset("log")
    assert row.source_url == url and row.filename == "click log.parquet"
    assert row.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert chunk_count(store, row.id) == 0                       # only the metadata is in the database
    assert files_in(machine_a / "datasets") == [f"{row.id}.parquet"]     # the registering home keeps its copy

    created = crossboard(machine_a, "tune", "log", "--models", "lr", "--trials", "1", "--epochs", "1",
                         "--workers", "0", "--name", "s", CROSSBOARD_DB=db)
    assert created.returncode == 0, created.stderr
    worker = crossboard(machine_b, "worker", "s", CROSSBOARD_DB=db)     # another machine: an empty home
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert files_in(machine_b / "datasets") == [f"{row.id}.parquet"]     # copied from the URL, nothing left over
    assert (machine_b / "datasets" / f"{row.id}.parquet").read_bytes() == \
        (machine_a / "datasets" / f"{row.id}.parquet").read_bytes()    # converted as registration converted it
    board = json.loads(crossboard(machine_a, "leaderboard", "s", "--format", "json", CROSSBOARD_DB=db).stdout)
    assert [r["state"] for r in board if r["model"] == "lr"] == ["COMPLETE"]


def register(home: Path, url: str, *extra: str) -> int:
    return cli.main(["--home", str(home), "ingest", url, "--by-reference", *extra])


def test_a_file_changed_since_registration_is_refused_with_the_way_to_register_it_again(home, tmp_path):
    path = shared_parquet(tmp_path / "shared")
    assert register(home, str(path), "--name", "log") == 0
    row = Store().find_dataset("log")
    shared_parquet(tmp_path / "shared", seed=1)                  # the same name, other rows
    other_home = tmp_path / "b"
    with pytest.raises(DataError, match=r"changed since it was registered .*\(digest \w{12}, now \w{12}\); register "
                                        r"it again with `crossboard ingest .* --by-reference`"):
        datasets.dataset_file(Store(), row, other_home)
    assert files_in(other_home / "datasets") == []               # no partial copy, no local copy
    assert datasets.dataset_file(Store(), row, home).exists()    # a home with its checked copy keeps using it


def test_a_csv_by_reference_is_refused_and_nothing_is_kept(home, tmp_path, capsys):
    path = tmp_path / "shared" / "log.csv"
    path.parent.mkdir()
    demo_frame(n_rows=200, n_users=10, n_items=10).to_csv(path, index=False)
    assert register(home, path.as_uri()) == 2
    error = capsys.readouterr().err
    assert "is not a Parquet file" in error and "convert it" in error and "without --by-reference" in error
    assert Store().datasets() == [] and files_in(home / "incoming") == []


@pytest.mark.parametrize("flag", [["--valid", "v.parquet"], ["--delimiter", ","], ["--names", "a,b"]])
def test_options_of_text_files_are_refused_by_reference(home, tmp_path, flag, capsys):
    assert register(home, str(shared_parquet(tmp_path / "shared")), *flag) == 2
    assert f"{flag[0]}: not with --by-reference" in capsys.readouterr().err


def test_a_read_that_fails_leaves_no_partial_file_and_no_dataset(home, tmp_path, monkeypatch, capsys):
    path = shared_parquet(tmp_path / "shared")
    real = datasets.url_blocks

    def cut_off(url):                   # the connection drops after the first block
        blocks = real(url)
        yield next(blocks)
        raise DataError(f"{url} could not be read (connection reset by peer)")

    monkeypatch.setattr(datasets, "HASH_BYTES", 4096)       # so the file comes in several blocks
    monkeypatch.setattr(datasets, "url_blocks", cut_off)
    assert register(home, str(path)) == 2
    assert "connection reset" in capsys.readouterr().err
    assert Store().datasets() == [] and files_in(home / "incoming") == []

    monkeypatch.setattr(datasets, "url_blocks", real)
    assert register(home, str(path), "--name", "log") == 0
    row = Store().find_dataset("log")
    monkeypatch.setattr(datasets, "url_blocks", cut_off)
    with pytest.raises(DataError, match="connection reset"):      # a worker's copy cut off: nothing stays
        datasets.dataset_file(Store(), row, tmp_path / "b")
    assert files_in(tmp_path / "b" / "datasets") == []


def test_a_truncated_parquet_file_is_refused_and_nothing_is_kept(home, tmp_path, capsys):
    path = shared_parquet(tmp_path / "shared")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert register(home, str(path)) == 2
    assert "could not be read as Parquet" in capsys.readouterr().err
    assert Store().datasets() == [] and files_in(home / "incoming") == []


@pytest.mark.parametrize("url,problem", [
    ("s3://KEY:hunter2@bucket/log.parquet", "holds credentials"),
    ("http://example.com/log.parquet", "could not be read"),
    ("{missing}", "there is no file at"),
    ("{folder}", "a folder, not a file"),
])
def test_a_url_that_cannot_be_registered_says_why(home, tmp_path, url, problem, capsys):
    url = url.format(missing=tmp_path / "absent.parquet", folder=tmp_path)
    assert register(home, url) == 2
    error = capsys.readouterr().err
    assert problem in error and "hunter2" not in error
    assert Store().datasets() == []


def test_a_database_made_before_datasets_had_urls_gets_the_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url)
    old.add_dataset(DatasetRow(id="d" * 64, name="d", filename="d.csv", file_format="csv", n_rows=1, n_cols=1,
                               parquet_bytes=1, schema_json="{}"), b"x")
    with old.engine.begin() as connection:
        for column in ("source_url", "digest"):
            connection.execute(sa.text(f"ALTER TABLE cb_datasets DROP COLUMN {column}"))
    old.engine.dispose()
    row = Store(url).find_dataset("d")
    assert row.source_url is None and row.digest is None


def test_the_web_app_offers_no_registration_by_reference():
    """Registering by reference reads any path or URL the server reaches: a command-line feature only."""
    sources = [ROOT / "app.py", *(ROOT / "ui").rglob("*.py")]
    assert not [p.name for p in sources if "inspect_reference" in p.read_text() or "source_url" in p.read_text()]
