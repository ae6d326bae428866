"""The few functions that read and write CrossBoard's tables. Rows come back detached
(readable after the session closes). Every write is one transaction: all or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import defer, sessionmaker

from storage.db import READ_ONLY, check_url, get_engine, resolve_url
from storage.tables import (
    ADDED_COLUMNS,
    AllocationRow,
    ArtifactRow,
    Base,
    BestOutputsRow,
    DatasetChunkRow,
    DatasetRow,
    DiagnosticsRow,
    EnsembleRow,
    OnlineRunRow,
    SeedRunRow,
    SplitRow,
    StudyRow,
    TrialResultRow,
    VerdictRow,
    WorkerRow,
    utcnow,
)

CHUNK_BYTES = 8 * 2**20
MAX_RACES = 5               # inserts retried when another process wins the same unique name


class Store:
    def __init__(self, url: str | None = None):
        self.url = check_url(resolve_url(url))
        database = sa.engine.make_url(self.url).database
        if self.url.startswith("sqlite") and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = get_engine(self.url)
        Base.metadata.create_all(self.engine)
        add_missing_columns(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    @contextmanager
    def session(self):
        """A transaction that may write (on SQLite it holds the write lock from its start)."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self):
        """A transaction that only reads: on SQLite a snapshot that never waits for a writer."""
        with self._reads.begin() as session:
            yield session

    # -- datasets -------------------------------------------------------------------------
    def add_dataset(self, row: DatasetRow, parquet: bytes | Path | None) -> DatasetRow:
        """Insert the dataset and its Parquet copy (bytes, or a file read CHUNK_BYTES at a time so
        memory stays bounded whatever its size; None for a table registered by reference, which
        workers read at ``row.source_url``) under the first of ``row.name``, ``name-2``, ``name-3``, …
        not taken; an identical upload returns the stored row. Decided in the database: uploads racing
        for one name or one version each end with a row (another process's insert is caught, then
        the choice made again)."""
        for _ in range(MAX_RACES):
            try:
                with self.session() as s:
                    existing = s.get(DatasetRow, row.id)
                    if existing is not None:
                        return existing
                    fresh = DatasetRow(**{c.name: getattr(row, c.name) for c in DatasetRow.__table__.columns})
                    fresh.name = _free_name(s, row.name)
                    s.add(fresh)
                    s.flush()
                    for seq, chunk in enumerate(_chunks(parquet) if parquet is not None else ()):
                        s.execute(sa.insert(DatasetChunkRow), [{"dataset_id": row.id, "seq": seq, "data": chunk}])
                return fresh
            except sa.exc.IntegrityError:        # another process took the name or stored the version first
                continue
        raise sa.exc.IntegrityError(f"dataset {row.name!r}: still racing after {MAX_RACES} tries", None, None)

    def find_dataset(self, ref: str) -> DatasetRow | None:
        """By name, full id, or a unique id prefix of at least 6 characters."""
        with self.reading() as s:
            row = s.scalar(sa.select(DatasetRow).where(DatasetRow.name == ref)) or s.get(DatasetRow, ref)
            if row is None and len(ref) >= 6:
                rows = s.scalars(sa.select(DatasetRow).where(DatasetRow.id.startswith(ref))).all()
                row = rows[0] if len(rows) == 1 else None
            return row

    def datasets(self) -> list[DatasetRow]:
        with self.reading() as s:
            return list(s.scalars(sa.select(DatasetRow).order_by(DatasetRow.created_at.desc())))

    def write_dataset_parquet(self, dataset_id: str, path: Path) -> None:
        """The stored Parquet copy written to ``path``, one chunk in memory at a time."""
        with self.reading() as s, open(path, "wb") as out:
            seqs = s.scalars(sa.select(DatasetChunkRow.seq).where(DatasetChunkRow.dataset_id == dataset_id)
                             .order_by(DatasetChunkRow.seq)).all()
            out.writelines(s.scalar(sa.select(DatasetChunkRow.data).where(DatasetChunkRow.dataset_id == dataset_id,
                                                                         DatasetChunkRow.seq == seq)) for seq in seqs)

    # -- splits ---------------------------------------------------------------------------
    def get_split(self, dataset_id: str, key: str) -> SplitRow | None:
        with self.reading() as s:
            return s.get(SplitRow, (dataset_id, key))

    def put_split(self, row: SplitRow) -> SplitRow:
        """Store a split unless another worker stored it first; returns the stored one."""
        try:
            with self.session() as s:
                existing = s.get(SplitRow, (row.dataset_id, row.key))
                if existing is not None:
                    return existing
                s.add(row)
        except sa.exc.IntegrityError:      # another worker stored it between our read and our write
            return self.get_split(row.dataset_id, row.key)
        return row

    # -- studies --------------------------------------------------------------------------
    def add_study(self, row: StudyRow) -> StudyRow:
        with self.session() as s:
            s.add(row)
        return row

    def find_study(self, ref: str | int) -> StudyRow | None:
        with self.reading() as s:
            if str(ref).isdigit():
                row = s.get(StudyRow, int(ref))
                if row is not None:
                    return row
            return s.scalar(sa.select(StudyRow).where(StudyRow.name == str(ref)))

    def studies(self) -> list[StudyRow]:
        with self.reading() as s:
            return list(s.scalars(sa.select(StudyRow).order_by(StudyRow.id.desc())))

    def update_study(self, study_id: int, **values) -> None:
        with self.session() as s:
            s.execute(sa.update(StudyRow).where(StudyRow.id == study_id).values(**values))

    def study_version(self, study_id: int) -> tuple:
        """A stamp of what the pages show of a study, read in one query: its status, its finished seed reruns and,
        for its trial results, best models, diagnostics, online replays, ensemble and verdict, how many rows
        there are and when the latest was written. Each of their writes changes it, so what a page computed
        from them holds until it changes."""
        stamped = ((TrialResultRow, TrialResultRow.finished_at), (ArtifactRow, ArtifactRow.created_at),
                   (DiagnosticsRow, DiagnosticsRow.created_at), (OnlineRunRow, OnlineRunRow.finished_at),
                   (EnsembleRow, EnsembleRow.updated_at), (VerdictRow, VerdictRow.updated_at))
        parts = [sa.select(StudyRow.status).where(StudyRow.id == study_id).scalar_subquery(),
                 sa.select(sa.func.count()).where(SeedRunRow.study_id == study_id, SeedRunRow.state != "running")
                 .scalar_subquery()]
        for table, moment in stamped:
            parts += [sa.select(sa.func.count()).select_from(table).where(table.study_id == study_id).scalar_subquery(),
                      sa.select(sa.func.max(moment)).where(table.study_id == study_id).scalar_subquery()]
        with self.reading() as s:
            return tuple(s.execute(sa.select(*parts)).one())

    # -- workers --------------------------------------------------------------------------
    def add_worker(self, study_id: int, host: str, pid: int) -> int:
        with self.session() as s:
            row = WorkerRow(study_id=study_id, host=host, pid=pid, heartbeat_at=db_utc_now(self.engine))
            s.add(row)
            s.flush()
            return row.id

    def update_worker(self, worker_id: int, **values) -> None:
        """Change the worker's row and stamp its heartbeat with the database's clock."""
        with self.session() as s:
            s.execute(sa.update(WorkerRow).where(WorkerRow.id == worker_id)
                      .values(heartbeat_at=db_utc_now(self.engine), **values))

    def db_now(self) -> datetime:
        """The database's clock, UTC (naive): what heartbeats are stamped and judged with, so that
        the clocks of the workers' machines do not matter."""
        with self.reading() as s:
            return s.scalar(sa.select(sa.type_coerce(db_utc_now(self.engine), sa.DateTime)))

    def workers(self, study_id: int) -> list[WorkerRow]:
        with self.reading() as s:
            return list(s.scalars(sa.select(WorkerRow).where(WorkerRow.study_id == study_id).order_by(WorkerRow.id)))

    # -- results --------------------------------------------------------------------------
    def save_result(self, row: TrialResultRow) -> None:
        """Insert or replace the result of one trial."""
        with self.session() as s:
            _replace_result(s, row)

    def results(self, study_id: int) -> list[TrialResultRow]:
        with self.reading() as s:
            return list(s.scalars(sa.select(TrialResultRow).where(TrialResultRow.study_id == study_id)
                                  .order_by(TrialResultRow.trial_number)))

    def result(self, study_id: int, trial_number: int) -> TrialResultRow | None:
        """The recorded result of one trial, or None (never written: the trial did not end)."""
        with self.reading() as s:
            return s.scalar(sa.select(TrialResultRow).where(TrialResultRow.study_id == study_id,
                                                            TrialResultRow.trial_number == trial_number))

    def result_count(self, study_id: int) -> int:
        """How many trials of the study have a recorded result (what uses up ``--trials``)."""
        with self.reading() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(TrialResultRow)
                            .where(TrialResultRow.study_id == study_id))

    # -- allocation -----------------------------------------------------------------------
    def allocate(self, study_id: int, trial_number: int, choose: Callable[[dict[str, int]], str],
                 replaces: Collection[int] = ()) -> str:
        """The model of trial ``trial_number``: the one recorded for it, else ``choose(trials given
        to each model so far)``, recorded in the same transaction under the study's lock, so that
        two workers never decide on the same counts. ``replaces``: the trials it runs again (a lost
        worker's), whose places in the plan it takes (their records removed, so one trial counts once)."""
        with self.session() as s:
            lock_study(s, study_id)
            if replaces:
                s.execute(sa.delete(AllocationRow).where(AllocationRow.study_id == study_id,
                                                         AllocationRow.trial_number.in_(list(replaces))))
            found = s.scalar(sa.select(AllocationRow.model).where(AllocationRow.study_id == study_id,
                                                                  AllocationRow.trial_number == trial_number))
            if found is not None:
                return found
            counts = dict(s.execute(sa.select(AllocationRow.model, sa.func.count()).where(
                AllocationRow.study_id == study_id).group_by(AllocationRow.model)).all())
            model = choose(counts)
            s.add(AllocationRow(study_id=study_id, trial_number=trial_number, model=model))
            return model

    def allocations(self, study_id: int) -> dict[str, int]:
        """Model -> trials given to it so far."""
        with self.reading() as s:
            return dict(s.execute(sa.select(AllocationRow.model, sa.func.count()).where(
                AllocationRow.study_id == study_id).group_by(AllocationRow.model)).all())

    # -- seed runs ------------------------------------------------------------------------
    def claim_seed_run(self, study_id: int, model: str, trial_number: int, seeds: list[int]) -> int | None:
        """The first of ``seeds`` nobody has claimed for that trial, now claimed (state running), or None."""
        with self.session() as s:
            lock_study(s, study_id)
            taken = set(s.scalars(sa.select(SeedRunRow.seed).where(SeedRunRow.study_id == study_id,
                                                                   SeedRunRow.trial_number == trial_number)))
            free = [seed for seed in seeds if seed not in taken]
            if not free:
                return None
            s.add(SeedRunRow(study_id=study_id, model=model, trial_number=trial_number, seed=free[0]))
            return free[0]

    def finish_seed_run(self, study_id: int, trial_number: int, seed: int, **values) -> None:
        with self.session() as s:
            s.execute(sa.update(SeedRunRow).where(SeedRunRow.study_id == study_id, SeedRunRow.trial_number == trial_number,
                                                  SeedRunRow.seed == seed).values(**values))

    def seed_runs(self, study_id: int, outputs: bool = True) -> list[SeedRunRow]:
        """The study's seed reruns; without ``outputs``, their output blobs are not read (reading the
        attribute raises)."""
        query = sa.select(SeedRunRow).where(SeedRunRow.study_id == study_id)
        if not outputs:
            query = query.options(defer(SeedRunRow.outputs, raiseload=True))
        with self.reading() as s:
            return list(s.scalars(query.order_by(SeedRunRow.trial_number, SeedRunRow.seed)))

    def seed_run_states(self, study_id: int) -> list[tuple[str, int, str]]:
        """(model, trial number, state) of each of the study's seed reruns, without their outputs."""
        with self.reading() as s:
            return [tuple(r) for r in s.execute(sa.select(SeedRunRow.model, SeedRunRow.trial_number, SeedRunRow.state)
                                                .where(SeedRunRow.study_id == study_id))]

    # -- online runs ----------------------------------------------------------------------
    def claim_online_run(self, study_id: int, model: str, mode: str, trial_number: int, worker_id: int | None) -> bool:
        """Claim the replay of ``model`` in ``mode`` (state running) unless a worker has it already."""
        with self.session() as s:
            lock_study(s, study_id)
            taken = s.scalar(sa.select(OnlineRunRow.id).where(OnlineRunRow.study_id == study_id,
                                                              OnlineRunRow.model == model, OnlineRunRow.mode == mode))
            if taken is not None:
                return False
            s.add(OnlineRunRow(study_id=study_id, model=model, mode=mode, trial_number=trial_number,
                               worker_id=worker_id))
            return True

    def finish_online_run(self, study_id: int, model: str, mode: str, **values) -> None:
        with self.session() as s:
            s.execute(sa.update(OnlineRunRow).where(OnlineRunRow.study_id == study_id, OnlineRunRow.model == model,
                                                    OnlineRunRow.mode == mode).values(finished_at=utcnow(), **values))

    def end_online_runs(self, study_id: int, worker_ids: list[int], **values) -> None:
        """Finish the still running replays of these workers (gone: their replays will not end otherwise)."""
        with self.session() as s:
            s.execute(sa.update(OnlineRunRow).where(OnlineRunRow.study_id == study_id, OnlineRunRow.state == "running",
                                                    OnlineRunRow.worker_id.in_(worker_ids))
                      .values(finished_at=utcnow(), **values))

    def online_runs(self, study_id: int) -> list[OnlineRunRow]:
        with self.reading() as s:
            return list(s.scalars(sa.select(OnlineRunRow).where(OnlineRunRow.study_id == study_id)
                                  .order_by(OnlineRunRow.model, OnlineRunRow.mode)))

    # -- artifacts ------------------------------------------------------------------------
    def finish_trial(self, result: TrialResultRow, best: ArtifactRow | None, maximize: bool,
                     outputs: bytes | None = None) -> bool:
        """Write a trial's ``result`` and, if it beats the model's stored best, its weights ``best``
        and ``outputs``, in one transaction: a COMPLETE row never lacks the artifact it earned.
        -> whether ``best`` was kept."""
        with self.session() as s:
            if best is not None:
                # the study row first: inserting the result takes a key-share lock on it (its foreign key), and
                # two workers upgrading theirs to the update lock below would deadlock on PostgreSQL
                lock_study(s, result.study_id)
            _replace_result(s, result)
            return best is not None and _keep_if_best(s, best, maximize, outputs)

    def artifacts(self, study_id: int) -> list[ArtifactRow]:
        with self.reading() as s:
            return list(s.scalars(sa.select(ArtifactRow).where(ArtifactRow.study_id == study_id)))

    def best_outputs(self, study_id: int) -> list[BestOutputsRow]:
        with self.reading() as s:
            return list(s.scalars(sa.select(BestOutputsRow).where(BestOutputsRow.study_id == study_id)
                                  .order_by(BestOutputsRow.model)))

    def best_trials(self, study_id: int) -> dict[str, tuple[int, str]]:
        """Model -> (trial number, weights format) of its stored best, without reading the weights."""
        with self.reading() as s:
            return {model: (number, weights_format) for model, number, weights_format in s.execute(
                sa.select(ArtifactRow.model, ArtifactRow.trial_number, ArtifactRow.weights_format)
                .where(ArtifactRow.study_id == study_id))}

    # -- diagnostics ----------------------------------------------------------------------
    def save_diagnostics(self, study_id: int, trial_number: int, model: str, result_json: str) -> None:
        """Keep (or replace) one trial's diagnostics."""
        with self.session() as s:
            s.execute(sa.delete(DiagnosticsRow).where(DiagnosticsRow.study_id == study_id,
                                                      DiagnosticsRow.trial_number == trial_number))
            s.add(DiagnosticsRow(study_id=study_id, trial_number=trial_number, model=model, result_json=result_json))

    def diagnosed_trials(self, study_id: int) -> set[int]:
        """The trial numbers with stored diagnostics (a kept failure included), without reading them."""
        with self.reading() as s:
            return set(s.scalars(sa.select(DiagnosticsRow.trial_number).where(DiagnosticsRow.study_id == study_id)))

    def diagnostics(self, study_id: int, trial_number: int | None = None) -> list[DiagnosticsRow]:
        """The study's stored diagnostics (one trial's, with ``trial_number``), by trial number."""
        with self.reading() as s:
            query = sa.select(DiagnosticsRow).where(DiagnosticsRow.study_id == study_id)
            if trial_number is not None:
                query = query.where(DiagnosticsRow.trial_number == trial_number)
            return list(s.scalars(query.order_by(DiagnosticsRow.trial_number)))

    # -- ensembles ------------------------------------------------------------------------
    def save_ensemble(self, study_id: int, result_json: str, members: dict[str, int] | None = None) -> bool:
        """Store the study's ensemble, built from ``members`` (model -> trial of the best outputs it
        read; None: write unconditionally). A worker whose members are no longer the stored best
        outputs writes nothing (the worker that changed them rebuilds after): -> whether it wrote."""
        with self.session() as s:
            lock_study(s, study_id)
            if members is not None:
                current = dict(s.execute(sa.select(BestOutputsRow.model, BestOutputsRow.trial_number)
                                         .where(BestOutputsRow.study_id == study_id)).all())
                if current != members:
                    return False
            s.execute(sa.delete(EnsembleRow).where(EnsembleRow.study_id == study_id))
            s.add(EnsembleRow(study_id=study_id, result_json=result_json))
        return True

    def ensemble(self, study_id: int) -> EnsembleRow | None:
        with self.reading() as s:
            return s.get(EnsembleRow, study_id)

    # -- verdicts -------------------------------------------------------------------------
    def save_verdict(self, study_id: int, result_json: str) -> None:
        """Keep (or replace) the study's comparison of its models."""
        with self.session() as s:
            s.merge(VerdictRow(study_id=study_id, result_json=result_json, updated_at=utcnow()))

    def verdict(self, study_id: int) -> VerdictRow | None:
        with self.reading() as s:
            return s.get(VerdictRow, study_id)


def _chunks(parquet: bytes | Path):
    """CHUNK_BYTES pieces of ``parquet`` (at least one, maybe empty)."""
    if isinstance(parquet, bytes):
        yield from (parquet[start:start + CHUNK_BYTES] for start in range(0, max(len(parquet), 1), CHUNK_BYTES))
        return
    with open(parquet, "rb") as f:
        first = True
        while (chunk := f.read(CHUNK_BYTES)) or first:
            yield chunk
            first = False


def db_utc_now(engine):
    """A SQL expression for the database server's current time in UTC, as a naive timestamp."""
    if engine.dialect.name == "postgresql":
        return sa.func.timezone("UTC", sa.func.now())
    return sa.func.strftime("%Y-%m-%d %H:%M:%f", "now")


def _replace_result(session, row: TrialResultRow) -> None:
    session.execute(sa.delete(TrialResultRow).where(TrialResultRow.study_id == row.study_id,
                                                    TrialResultRow.trial_number == row.trial_number))
    session.add(row)


def _keep_if_best(session, row: ArtifactRow, maximize: bool, outputs: bytes | None) -> bool:
    """In ``session``, which holds the study's lock: ``row`` replaces the model's stored best (and
    its outputs) if it beats it."""
    current = session.scalar(sa.select(ArtifactRow).where(ArtifactRow.study_id == row.study_id,
                                                          ArtifactRow.model == row.model))
    if current is not None:
        better = row.value > current.value if maximize else row.value < current.value
        if not better:
            return False
        session.delete(current)
    session.execute(sa.delete(BestOutputsRow).where(BestOutputsRow.study_id == row.study_id,
                                                    BestOutputsRow.model == row.model))
    session.flush()
    session.add(row)
    if outputs is not None:
        session.add(BestOutputsRow(study_id=row.study_id, model=row.model, trial_number=row.trial_number,
                                   outputs=outputs))
    return True


def lock_study(session, study_id: int) -> None:
    """Hold the study's row until the transaction ends, so workers replacing one of its
    one-per-study rows (best weights, ensemble) take turns instead of inserting twice
    (PostgreSQL; SQLite transactions are serialized already)."""
    session.execute(sa.select(StudyRow.id).where(StudyRow.id == study_id).with_for_update())


def loads(text: str | None) -> dict:
    return json.loads(text) if text else {}


def age_seconds(moment: datetime | None) -> float | None:
    return None if moment is None else (utcnow() - moment).total_seconds()


def add_missing_columns(engine: sa.Engine) -> None:
    """Add each of ``ADDED_COLUMNS`` that a database made by an earlier CrossBoard lacks (several
    processes may try at once: the loser's duplicate-column error is ignored)."""
    for table, name in ADDED_COLUMNS:
        have = {c["name"] for c in sa.inspect(engine).get_columns(table.__tablename__)}
        if name in have:
            continue
        column = table.__table__.c[name]
        try:
            with engine.begin() as connection:
                connection.execute(sa.text(f"ALTER TABLE {table.__tablename__} ADD COLUMN {name} "
                                           f"{column.type.compile(engine.dialect)}"))
        except sa.exc.DBAPIError:
            if name not in {c["name"] for c in sa.inspect(engine).get_columns(table.__tablename__)}:
                raise


def _free_name(session, name: str) -> str:
    """The first of ``name``, ``name-2``, ``name-3``, … (cut to the column's width) no dataset has."""
    width = DatasetRow.__table__.c.name.type.length
    taken = set(session.scalars(sa.select(DatasetRow.name).where(
        DatasetRow.name.startswith(name[:width - 8]))))
    candidate, n = name, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate, n = name[: width - len(suffix)] + suffix, n + 1
    return candidate
