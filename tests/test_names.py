"""Names are data: checked once, never a path, never mistaken for an id; races on one name are
decided in the database."""

from __future__ import annotations

import io
import json
import tempfile
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import ROOT, crossboard

from automl.data import datasets
from automl.data.demo import demo_frame
from automl.data.names import MAX_NAME_CHARS, checked_name, derived_name, safe_file_name
from automl.errors import SettingsError
from automl.search.config import StudyConfig
from automl.search.study import create_study
from automl.serving.export import zipped_export
from storage import Store


@pytest.mark.parametrize("name, what, problem", [
    ("", "study", "empty"),
    ("x" * (MAX_NAME_CHARS + 1), "dataset", "characters"),
    ("line\nbreak", "study", "control character"),
    ("tab\there", "dataset", "control character"),
    ("1", "study", "digits only"),
    ("beec04", "dataset", "hex digits"),
])
def test_a_name_that_cannot_work_is_refused_with_the_reason(name, what, problem):
    with pytest.raises(SettingsError, match=problem):
        checked_name(name, what)


def test_names_people_type_pass_and_derived_names_are_made_valid():
    assert checked_name("  clicks 2024  ", "dataset") == "clicks 2024"
    assert checked_name("run-1", "study") == "run-1" and checked_name("beec04x", "dataset") == "beec04x"
    assert derived_name("20161201", "dataset") == "dataset-20161201"
    assert derived_name("", "dataset") == "dataset" and len(derived_name("y" * 500, "study")) == MAX_NAME_CHARS


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", "..", "a/../../b", "C:\\temp\\x", ".hidden",
                                  "<script>", "\x00nul", ""])
def test_a_safe_file_name_is_never_a_path(name):
    safe = safe_file_name(name)
    assert safe and "/" not in safe and "\\" not in safe and not safe.startswith(".") and ":" not in safe
    assert Path(safe).name == safe and safe not in (".", "..")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A study with one stored lr model, made through the CLI."""
    home = tmp_path_factory.mktemp("home")
    path = home / "clicks.csv"
    demo_frame(n_rows=800, n_users=30, n_items=20).to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "clicks").returncode == 0
    done = crossboard(home, "tune", "clicks", "--models", "lr", "--trials", "1", "--epochs", "1", "--seeds", "0",
                      "--name", "named", timeout=300)
    assert done.returncode == 0, done.stderr
    return home


@pytest.mark.parametrize("hostile", ["../../../escaped", "/tmp/crossboard-escaped", "a/../../b", "..", "x\\..\\y"])
def test_an_export_never_writes_outside_its_temporary_folder_whatever_the_study_name(tuned, hostile, tmp_path):
    """A study name from an older database (or another tool) that reads as a path is still only a name."""
    store = Store(f"sqlite:///{tuned / 'crossboard.db'}")
    study = store.find_study("named")
    store.update_study(study.id, name=hostile)
    try:
        archive = zipfile.ZipFile(io.BytesIO(zipped_export(store, store.find_study(study.id), tuned)))
    finally:
        store.update_study(study.id, name="named")
    folders = {Path(name).parts[0] for name in archive.namelist()}
    assert len(folders) == 1 and all(".." not in Path(n).parts and not n.startswith("/") for n in archive.namelist())
    assert {Path(n).name for n in archive.namelist()} == {"model.onnx", "encoder.json", "card.json", "predict.py"}
    assert not Path(f"{hostile}-best").exists() and not (tmp_path / f"{hostile}-best").exists()
    assert not Path("/tmp/crossboard-escaped-best").exists()


def test_a_study_named_like_a_path_through_the_cli_writes_nothing_outside_the_home(tuned, tmp_path):
    made = crossboard(tuned, "tune", "clicks", "--models", "lr", "--trials", "1", "--epochs", "1", "--seeds", "0",
                      "--name", "../../../escaped-cli", timeout=300)
    assert made.returncode == 0, made.stderr
    store = Store(f"sqlite:///{tuned / 'crossboard.db'}")
    study = store.find_study("../../../escaped-cli")
    archive = zipfile.ZipFile(io.BytesIO(zipped_export(store, study, tuned)))
    assert {Path(n).parts[0] for n in archive.namelist()} == {"escaped-cli-best"}
    for base in (ROOT, tuned, tuned / "cache", tuned / "logs", Path(tempfile.gettempdir())):   # where a path would land
        assert not list((base / "../../..").resolve().glob("escaped-cli*")), base


def test_the_cli_refuses_a_name_that_cannot_work_before_anything_is_written(tuned):
    before = json.loads(crossboard(tuned, "leaderboard", "named", "--format", "json").stdout)
    stored = Store(f"sqlite:///{tuned / 'crossboard.db'}")
    studies = [s.name for s in stored.studies()]
    for name in ["7", "x" * (MAX_NAME_CHARS + 50), "bad\nname"]:
        refused = crossboard(tuned, "tune", "clicks", "--models", "lr", "--trials", "1", "--workers", "0",
                             "--name", name)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr and "name" in refused.stderr
    assert [s.name for s in stored.studies()] == studies
    assert json.loads(crossboard(tuned, "leaderboard", "named", "--format", "json").stdout) == before
    long = crossboard(tuned, "ingest", str(tuned / "clicks.csv"), "--name", "d" * 300)
    assert long.returncode == 2 and "characters" in long.stderr and "Traceback" not in long.stderr


def frames(n: int) -> list[bytes]:
    """``n`` different small tables (as CSV bytes)."""
    return [pd.DataFrame({"user_id": [f"u{i % 7}" for i in range(60)], "item_id": [f"i{(i + k) % 9}" for i in range(60)],
                          "click": [(i + k) % 2 for i in range(60)]}).to_csv(index=False).encode() for k in range(n)]


def race(calls: list) -> tuple[list, list]:
    """Run the calls at once (one thread each); -> (results, errors)."""
    results, errors, start = [], [], threading.Barrier(len(calls))

    def run(call):
        start.wait()
        try:
            results.append(call())
        except Exception as error:  # noqa: BLE001 - the test looks at every error
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results, errors


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")


def test_uploads_racing_for_one_name_each_get_a_name_and_identical_ones_one_version(url):
    inspections = [datasets.inspect(data, "clicks.csv") for data in frames(4)]
    stores = [Store(url) for _ in inspections]
    rows, errors = race([lambda s=s, i=i: datasets.save(s, i, name="clicks") for s, i in zip(stores, inspections)])
    assert errors == [] and sorted(r.name for r in rows) == ["clicks", "clicks-2", "clicks-3", "clicks-4"]
    same = datasets.inspect(frames(1)[0], "clicks.csv")
    again, errors = race([lambda s=s: datasets.save(s, same, name="other") for s in stores[:3]])
    assert errors == [] and len({r.id for r in again}) == 1 and len(Store(url).datasets()) == 4


def test_studies_racing_for_one_name_end_with_one_study_and_a_message(url):
    store = Store(url)
    dataset = datasets.save(store, datasets.inspect(frames(1)[0], "clicks.csv"), name="clicks")
    config = StudyConfig(models=["lr"], n_trials=1, workers=0)
    made, errors = race([lambda s=s: create_study(s, dataset, config, name="same") for s in
                         [Store(url) for _ in range(3)]])
    assert len(made) == 1 and len(errors) == 2
    assert all(isinstance(e, SettingsError) and "exists already" in str(e) for e in errors), errors
    assert [s.name for s in store.studies()] == ["same"]

