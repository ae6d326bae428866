"""Reliability: on SQLite a reader never waits for a writer (WAL snapshot, plain BEGIN) while
writers still queue on the lock (BEGIN IMMEDIATE); a hostile libFM file is refused in seconds with
bounded memory; a trial's result and weights are written in one transaction; a fault in one trial
(or in the ensemble rebuild) fails that trial only, and a worker stops after too many failures in
a row; an ensemble built from outdated members is not stored."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from storage import Store
from storage.tables import StudyRow

HOLD_S = 3.0


def test_a_reader_does_not_wait_for_a_writer_holding_the_lock(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'crossboard.db'}")
    holding, release = threading.Event(), threading.Event()

    def writer():
        with store.session() as s:
            s.execute(sa.select(StudyRow.id)).all()        # BEGIN IMMEDIATE: the write lock is held from here
            holding.set()
            release.wait(HOLD_S)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(30)
    try:
        tick = time.perf_counter()
        assert store.studies() == [] and store.datasets() == []
        read_s = time.perf_counter() - tick
        blocked = threading.Thread(target=lambda: store.update_study(1, status="x"))
        blocked.start()
        blocked.join(0.5)
        assert blocked.is_alive()                  # a second writer waits for the lock
    finally:
        release.set()
        thread.join()
    blocked.join(30)
    assert read_s < 1.0, read_s
    assert not blocked.is_alive()


HOSTILE_LIBFM = """
import resource, sys, time
sys.path.insert(0, {root!r})
from automl.data.read import read_table
from automl.errors import DataError
rows = ["1 " + " ".join(f"{{i}}:1.5" for i in range(989))] + ["0 7:1"] * 700_000
payload = "\\n".join(rows).encode()
tick = time.perf_counter()
try:
    read_table(payload, "hostile.libfm")
    outcome = "read"
except DataError as error:
    outcome = "refused: " + str(error)
print(len(payload), time.perf_counter() - tick, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, outcome)
"""


def test_a_hostile_libfm_file_is_refused_in_seconds_with_bounded_memory():
    """One row with 989 features and 700k rows with one (a 4.8 MB file) would expand into a dense
    700k × 989 frame (5.5 GB of float64)."""
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", HOSTILE_LIBFM.format(root=root)], capture_output=True, text=True,
                          check=True, timeout=300)
    size, seconds, peak_kb, outcome = done.stdout.split(maxsplit=3)
    assert int(size) > 4_000_000
    assert outcome.startswith("refused") and "cells" in outcome and "CSV" in outcome, outcome
    assert float(seconds) < 20, seconds
    assert int(peak_kb) < 2 * 2**20, f"peak memory {int(peak_kb) / 2**20:.2f} GB"


# -- the trial write protocol and failing trials (one in-process worker on a tiny study) ---------------

def tiny_study(home, models: list[str], n_trials: int, name: str):
    import numpy as np
    import pandas as pd

    from automl.data import datasets
    from automl.search.config import StudyConfig
    from automl.search.study import create_study

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"colour": rng.choice(list("abcde"), 600), "shape": rng.choice(list("xyz"), 600),
                          "click": rng.integers(0, 2, 600)})
    store = Store()
    dataset = datasets.save(store, datasets.inspect(frame.to_csv(index=False).encode(), f"{name}.csv"))
    study = create_study(store, dataset, StudyConfig(models=models, n_trials=n_trials, max_epochs=1, seeds=0),
                         name=name)
    return store, study


def broken_forward(self, batch):
    raise RuntimeError("boom in forward")


def test_a_trial_whose_forward_raises_fails_alone_and_the_worker_goes_on(home, monkeypatch):
    from automl.search.worker import run_worker
    from models.linear import FactorizationMachine

    monkeypatch.setattr(FactorizationMachine, "forward", broken_forward)
    store, study = tiny_study(home, ["lr", "fm"], 6, "broken")
    assert run_worker(store, study.id, home) == 0
    results = store.results(study.id)
    assert len(results) == 6
    fm = [r for r in results if r.model == "fm"]
    assert fm and all(r.state == "FAIL" and r.reason == "RuntimeError: boom in forward" for r in fm)
    assert all(r.state == "COMPLETE" for r in results if r.model == "lr")
    assert {a.model for a in store.artifacts(study.id)} == {"lr"}


def test_a_worker_stops_with_a_message_after_too_many_failures_in_a_row(home, monkeypatch):
    from automl.search.objective import MAX_FAILURES_IN_A_ROW
    from automl.search.worker import run_worker
    from models.linear import FactorizationMachine

    monkeypatch.setattr(FactorizationMachine, "forward", broken_forward)
    store, study = tiny_study(home, ["fm"], 3 * MAX_FAILURES_IN_A_ROW, "hopeless")
    assert run_worker(store, study.id, home) == 2
    assert len(store.results(study.id)) == MAX_FAILURES_IN_A_ROW
    (worker,) = store.workers(study.id)
    assert worker.status == "failed" and f"last {MAX_FAILURES_IN_A_ROW} trials all failed" in worker.message
    assert "boom in forward" in worker.message


def test_a_failing_ensemble_rebuild_costs_neither_the_trial_nor_the_worker(home, monkeypatch):
    from automl.search import ensembles
    from automl.search.worker import run_worker

    def broken(*args):
        raise ValueError("ensemble boom")

    monkeypatch.setattr(ensembles, "refresh", broken)
    store, study = tiny_study(home, ["lr", "fm"], 4, "noensemble")
    assert run_worker(store, study.id, home) == 0
    assert [r.state for r in store.results(study.id)] == ["COMPLETE"] * 4
    assert "ensemble could not be rebuilt" in store.find_study(study.id).message


def test_a_result_and_its_weights_are_written_together_or_not_at_all(home, monkeypatch):
    import storage.store
    from storage.tables import ArtifactRow, TrialResultRow

    store, study = tiny_study(home, ["lr"], 1, "atomic")
    result = TrialResultRow(study_id=study.id, trial_number=0, model="lr", state="COMPLETE", params_json="{}")
    best = ArtifactRow(study_id=study.id, model="lr", trial_number=0, value=0.7, config_json="{}", weights=b"w",
                       sha256="x", weights_format="safetensors")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(storage.store, "_keep_if_best", crash)
    try:
        store.finish_trial(result, best, maximize=True)
    except OSError:
        pass
    assert store.results(study.id) == [] and store.artifacts(study.id) == []
    monkeypatch.undo()
    assert store.finish_trial(result, best, maximize=True)
    assert [r.state for r in store.results(study.id)] == ["COMPLETE"] and len(store.artifacts(study.id)) == 1


def test_an_ensemble_built_from_outdated_members_is_not_stored(home):
    from storage.tables import ArtifactRow

    store, study = tiny_study(home, ["lr", "fm"], 1, "stale")
    for model, trial in (("lr", 0), ("fm", 1)):
        store.save_if_best(ArtifactRow(study_id=study.id, model=model, trial_number=trial, value=0.6, config_json="{}",
                                       weights=b"", sha256="", weights_format="none"), maximize=True, outputs=b"o")
    assert store.save_ensemble(study.id, '{"v": 1}', members={"lr": 0, "fm": 1})
    store.save_if_best(ArtifactRow(study_id=study.id, model="fm", trial_number=2, value=0.7, config_json="{}",
                                   weights=b"", sha256="", weights_format="none"), maximize=True, outputs=b"o")
    assert not store.save_ensemble(study.id, '{"v": 2}', members={"lr": 0, "fm": 1})     # read before trial 2
    assert store.ensemble(study.id).result_json == '{"v": 1}'
    assert store.save_ensemble(study.id, '{"v": 3}', members={"lr": 0, "fm": 2})


def test_a_database_other_than_sqlite_or_postgresql_is_refused_with_a_message(home, capsys):
    from automl.cli import main

    assert main(["--home", str(home), "--db", "mysql+pymysql://root@127.0.0.1/test", "datasets"]) == 2
    error = capsys.readouterr().err
    assert "mysql databases are not supported" in error and "PostgreSQL" in error


def test_saving_a_file_again_with_other_roles_makes_a_new_version_and_leaves_the_study_alone(home):
    import json

    from automl.data import datasets
    from automl.features.prepare import stored_split
    from automl.search.worker import run_worker

    store, study = tiny_study(home, ["lr"], 2, "versioned")
    first = store.find_dataset(study.dataset_id)
    split_before = stored_split(store, first, home)
    frame = datasets.load_frame(store, first, home)
    inspection = datasets.inspect(frame.to_csv(index=False).encode(), "versioned.csv")
    assert datasets.save(store, inspection).id == first.id                 # same file, same roles: the same version
    other = datasets.save(store, inspection, inspection.schema.with_roles({"shape": "ignore"}), name="versioned")
    assert other.id != first.id and other.name == "versioned-2"
    assert store.find_dataset(first.id).schema_json == first.schema_json   # the study's version never changes
    assert run_worker(store, study.id, home) == 0                          # the study runs on after the re-save
    (artifact,) = store.artifacts(study.id)
    fields = [f["name"] for f in json.loads(artifact.config_json)["spec"]["fields"]]
    assert "shape" in fields
    assert (stored_split(store, store.find_dataset(first.id), home) == split_before).all()
