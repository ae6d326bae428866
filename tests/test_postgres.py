"""Several machines on one study: a shared PostgreSQL database, workers that know only its URL.

Needs the PostgreSQL server at 127.0.0.1:5432 (user postgres, trust auth); skipped, with that
reason, where it is not running, and failed instead when ``CROSSBOARD_REQUIRE_PG=1`` (as in CI)."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from cli_helpers import crossboard, start_crossboard

from automl.data.demo import demo_frame
from storage import Store
from storage.tables import ArtifactRow, DatasetRow, SplitRow, StudyRow, TrialResultRow

psycopg = pytest.importorskip("psycopg")


@pytest.mark.slow
def test_two_machines_tune_one_study_through_postgres(tmp_path, postgres_url):
    machine_a, machine_b, machine_c = (tmp_path / m for m in ("a", "b", "c"))
    path = tmp_path / "log.csv"
    demo_frame(n_rows=1500, n_users=60, n_items=40).to_csv(path, index=False)
    url = {"CROSSBOARD_DB": postgres_url}
    assert crossboard(machine_a, "ingest", str(path), "--name", "log", **url).returncode == 0
    created = crossboard(machine_a, "tune", "log", "--models", "lr,fm", "--trials", "8", "--epochs", "2",
                         "--workers", "0", "--name", "shared", **url)
    assert created.returncode == 0 and "crossboard --db URL worker shared" in created.stdout

    # Workers on "other machines": their own empty data directories, only the URL in common.
    workers = [start_crossboard(home, "worker", "shared", **url) for home in (machine_b, machine_c)]
    for worker in workers:
        output, _ = worker.communicate(timeout=400)
        assert worker.returncode == 0, output
    for home in (machine_b, machine_c):
        assert len(os.listdir(home / "datasets")) == 1          # each fetched the table through the URL

    board = json.loads(crossboard(machine_a, "leaderboard", "shared", "--format", "json", **url).stdout)
    complete = [r for r in board if r["state"] in ("COMPLETE", "PRUNED")]
    assert len(complete) >= 8
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql")) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM trials GROUP BY state").fetchall())
        workers_seen = conn.execute("SELECT count(DISTINCT worker_id) FROM cb_trial_results").fetchone()[0]
    assert "RUNNING" not in states and "WAITING" not in states
    assert workers_seen == 2
    assert any(r["model"] == "ensemble" for r in board)                 # lr and fm each have a best trial


def test_workers_replacing_a_studys_best_rows_at_once_take_turns(postgres_url):
    store = Store(postgres_url)
    store.add_dataset(DatasetRow(id="d" * 64, name="d", filename="d.csv", file_format="csv", n_rows=1, n_cols=1,
                                 parquet_bytes=0, schema_json="{}"), b"")
    study = store.add_study(StudyRow(name="s", optuna_name="s", dataset_id="d" * 64, task="rating", metric="rmse",
                                     direction="minimize", config_json="{}"))
    start = threading.Barrier(8)

    def replace(worker: int) -> None:
        start.wait()
        for step in range(10):
            value = 1.0 - 0.01 * (step * 8 + worker)
            row = ArtifactRow(study_id=study.id, model="fm", trial_number=step * 8 + worker, value=value,
                              config_json="{}", weights=b"w", sha256="0" * 64)
            result = TrialResultRow(study_id=study.id, trial_number=row.trial_number, model="fm", state="COMPLETE",
                                    params_json="{}")
            store.finish_trial(result, row, maximize=False, outputs=b"o")
            store.save_ensemble(study.id, json.dumps({"step": step, "worker": worker}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(replace, range(8)))                  # an IntegrityError in any thread is raised here
    [best] = store.artifacts(study.id)
    assert best.trial_number == 79 and [r.trial_number for r in store.best_outputs(study.id)] == [79]
    assert store.ensemble(study.id) is not None


def test_workers_storing_a_split_at_once_all_get_the_first_one(postgres_url):
    store = Store(postgres_url)
    store.add_dataset(DatasetRow(id="d" * 64, name="d", filename="d.csv", file_format="csv", n_rows=1, n_cols=1,
                                 parquet_bytes=0, schema_json="{}"), b"")
    start = threading.Barrier(8)

    def put(worker: int) -> bytes:
        start.wait()
        return store.put_split(SplitRow(dataset_id="d" * 64, key="k", method=f"m{worker}", counts_json="{}",
                                        data=bytes([worker]))).data

    with ThreadPoolExecutor(8) as pool:
        stored = list(pool.map(put, range(8)))             # an IntegrityError in any thread is raised here
    assert len(set(stored)) == 1 and stored[0] == store.get_split("d" * 64, "k").data


def worker_columns(store: Store) -> set[str]:
    return {c["name"] for c in sa.inspect(store.engine).get_columns("cb_workers")}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_database_made_before_a_column_was_added_gets_it_on_open(database, tmp_path, request):
    """A home whose tables lack a column added since (``storage.tables.ADDED_COLUMNS``) keeps working:
    several processes opening it at once add the column once, and its rows are read with it."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    old = Store(url)
    with old.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE cb_workers DROP COLUMN phase"))
    assert "phase" not in worker_columns(old)
    old.engine.dispose()
    with ThreadPoolExecutor(3) as pool:
        opened = list(pool.map(lambda _: Store(url), range(3)))
    assert all("phase" in worker_columns(store) for store in opened)
    assert opened[0].workers(1) == []
