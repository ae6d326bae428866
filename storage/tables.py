"""SQLAlchemy 2.x tables. Prefixed ``cb_`` so they live beside Optuna's own tables in one database."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class TrialState(StrEnum):
    """A recorded trial's end (``cb_trial_results.state``, Optuna's names)."""

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"


class WorkerStatus(StrEnum):
    """A worker's life (``cb_workers.status``): starting, loading its data, running, then one of the ends."""

    STARTING = "starting"
    LOADING = "loading"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    LOST = "lost"          # it stopped beating; ``settle`` marked it


class WorkerPhase(StrEnum):
    """What a running worker does (``cb_workers.phase``): trials, then the steps after them."""

    TRIAL = "trial"
    DIAGNOSTICS = "diagnostics"              # of each model's best trial
    SEED_RERUNS = "seed reruns"
    WAITING = "waiting for trials"           # for the other workers' trials, before the online replays
    ONLINE_REPLAYS = "online replays"


class Base(DeclarativeBase):
    pass


class OfStudy:
    """The key of a row that belongs to one study (deleted with it)."""

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_studies.id", ondelete="CASCADE"), index=True)


class DatasetRow(Base):
    """An uploaded table, one version of it: ``id`` hashes the uploaded bytes, the reading options and
    the column roles (``automl.data.datasets.version_id``); a stored version never changes. Its Parquet
    copy is in ``cb_dataset_chunks``, or, for a table registered by reference, nowhere in the database:
    each worker reads ``source_url`` and checks the file's SHA-256 against ``digest``."""

    __tablename__ = "cb_datasets"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    filename: Mapped[str] = mapped_column(sa.String(500))
    file_format: Mapped[str] = mapped_column(sa.String(20))
    n_rows: Mapped[int]
    n_cols: Mapped[int]
    parquet_bytes: Mapped[int]
    schema_json: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_url: Mapped[str | None] = mapped_column(sa.Text)     # registered by reference: a path or URL
    digest: Mapped[str | None] = mapped_column(sa.String(64))   # then the SHA-256 (hex) of that file's bytes


class DatasetChunkRow(Base):
    """The immutable Parquet copy, in chunks, so a worker given only the URL can fetch it."""

    __tablename__ = "cb_dataset_chunks"
    dataset_id: Mapped[str] = mapped_column(
        sa.ForeignKey("cb_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class SplitRow(Base):
    """A stored train/validation/test assignment (``.npy`` bytes of int8: 0 train, 1 val, 2 test)."""

    __tablename__ = "cb_splits"
    dataset_id: Mapped[str] = mapped_column(
        sa.ForeignKey("cb_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    method: Mapped[str] = mapped_column(sa.String(40))
    counts_json: Mapped[str] = mapped_column(sa.Text)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StudyRow(Base):
    __tablename__ = "cb_studies"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    optuna_name: Mapped[str] = mapped_column(sa.String(250), unique=True)
    dataset_id: Mapped[str] = mapped_column(sa.ForeignKey("cb_datasets.id"))
    task: Mapped[str] = mapped_column(sa.String(20))
    metric: Mapped[str] = mapped_column(sa.String(20))
    direction: Mapped[str] = mapped_column(sa.String(10))
    config_json: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="created")
    stop_requested: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class WorkerRow(OfStudy, Base):
    """One worker process; updated at each epoch so the UI can show what runs now."""

    __tablename__ = "cb_workers"
    host: Mapped[str] = mapped_column(sa.String(200))
    pid: Mapped[int]
    device: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=WorkerStatus.STARTING)   # a WorkerStatus
    phase: Mapped[str | None] = mapped_column(sa.String(30))     # a WorkerPhase while running, else None
    trial_number: Mapped[int | None]                             # the trial it trains or diagnoses
    model: Mapped[str | None] = mapped_column(sa.String(50))     # that trial's model
    epoch: Mapped[int | None]
    message: Mapped[str] = mapped_column(sa.Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrialResultRow(OfStudy, Base):
    __tablename__ = "cb_trial_results"
    __table_args__ = (sa.UniqueConstraint("study_id", "trial_number"),)
    trial_number: Mapped[int]
    model: Mapped[str] = mapped_column(sa.String(50))
    state: Mapped[str] = mapped_column(sa.String(20))          # a TrialState
    params_json: Mapped[str] = mapped_column(sa.Text)
    val_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    test_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    extra_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    best_epoch: Mapped[int | None]
    epochs: Mapped[int | None]
    train_seconds: Mapped[float | None]
    n_params: Mapped[int | None]
    latency_ms_per_1k: Mapped[float | None]
    device: Mapped[str] = mapped_column(sa.String(200), default="")
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    worker_id: Mapped[int | None]
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)


class AllocationRow(OfStudy, Base):
    """Which model a trial was given (``automl.search.allocation``), decided under the study's lock
    so that workers on several machines share one plan."""

    __tablename__ = "cb_allocations"
    __table_args__ = (sa.UniqueConstraint("study_id", "trial_number"),)
    trial_number: Mapped[int]
    model: Mapped[str] = mapped_column(sa.String(50))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SeedRunRow(OfStudy, Base):
    """One more run of a model's best trial with another seed (``automl.search.reseed``): what the
    leaderboard's spread over seeds is computed from. ``state``: running, done or failed."""

    __tablename__ = "cb_seed_runs"
    __table_args__ = (sa.UniqueConstraint("study_id", "trial_number", "seed"),)
    model: Mapped[str] = mapped_column(sa.String(50))
    trial_number: Mapped[int]
    seed: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(20), default="running")
    val_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    test_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    outputs: Mapped[bytes | None] = mapped_column(sa.LargeBinary)   # its test outputs (safetensors "test"), when kept
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OnlineRunRow(OfStudy, Base):
    """One model's replay of an online study's stream in one mode (``automl.online``): static,
    incremental, retrain or drn, from its best offline trial. ``state``: running, done or failed;
    ``result_json``: the overall and per-window metrics and the options chosen for the mode."""

    __tablename__ = "cb_online_runs"
    __table_args__ = (sa.UniqueConstraint("study_id", "model", "mode"),)
    model: Mapped[str] = mapped_column(sa.String(50))
    mode: Mapped[str] = mapped_column(sa.String(20))
    trial_number: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(20), default="running")
    result_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    worker_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class DiagnosticsRow(OfStudy, Base):
    """One trial's feature-interaction diagnostics (``automl.diagnostics.trial``) as JSON."""

    __tablename__ = "cb_diagnostics"
    __table_args__ = (sa.UniqueConstraint("study_id", "trial_number"),)
    trial_number: Mapped[int]
    model: Mapped[str] = mapped_column(sa.String(50))
    result_json: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelBest(OfStudy):
    """Columns of a row kept for one model's best trial in one study (one row per study and model)."""

    __table_args__ = (sa.UniqueConstraint("study_id", "model"),)
    model: Mapped[str] = mapped_column(sa.String(50))
    trial_number: Mapped[int]


class ArtifactRow(ModelBest, Base):
    """Best fitted model of one model family in one study, plus a JSON config. Never pickle: the
    weights are safetensors bytes (torch models), LightGBM's text model format ("lightgbm", GBDT)
    or empty ("none": a baseline with nothing fitted worth keeping)."""

    __tablename__ = "cb_artifacts"
    value: Mapped[float]
    config_json: Mapped[str] = mapped_column(sa.Text)
    weights: Mapped[bytes] = mapped_column(sa.LargeBinary)
    weights_format: Mapped[str] = mapped_column(sa.String(20), default="safetensors")
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BestOutputsRow(ModelBest, Base):
    """Validation and test outputs of one model's best trial (the artifact's trial): safetensors
    bytes holding float32 ``val`` [n_val] and ``test`` [n_test]; what ensembles are built from. A
    table of its own, so that reading them for an ensemble never loads the weights."""

    __tablename__ = "cb_best_outputs"
    outputs: Mapped[bytes] = mapped_column(sa.LargeBinary)


class EnsembleRow(Base):
    """A study's current ensemble of its models' best trials, as JSON (``automl.search.ensembles``)."""

    __tablename__ = "cb_ensembles"
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_studies.id", ondelete="CASCADE"), primary_key=True)
    result_json: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class VerdictRow(Base):
    """A study's current comparison of its models on the shared test rows, as JSON
    (``automl.search.verdicts``, ``automl.evaluation.comparison.Comparison``)."""

    __tablename__ = "cb_verdicts"
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_studies.id", ondelete="CASCADE"), primary_key=True)
    result_json: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# Columns added to a table after databases with it existed: ``Store`` adds them where missing
# (nullable, so the rows already there stay valid).
ADDED_COLUMNS = ((WorkerRow, "phase"), (SeedRunRow, "outputs"), (DatasetRow, "source_url"),
                 (DatasetRow, "digest"))
