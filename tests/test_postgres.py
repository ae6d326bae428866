"""Several machines on one study: a shared PostgreSQL database, workers that know only its URL.

Needs the PostgreSQL server at 127.0.0.1:5432 (user postgres, trust auth); skipped, with that
reason, where it is not running."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from cli_helpers import crossboard, start_crossboard

from automl.demo import demo_frame

psycopg = pytest.importorskip("psycopg")
ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


@pytest.fixture
def postgres_url():
    try:
        admin = psycopg.connect(ADMIN, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error}); it backs the multi-machine test")
    name = f"crossboard_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        admin.execute(f'DROP DATABASE "{name}"')
        admin.close()


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
