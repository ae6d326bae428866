"""Scoring new rows with a study's stored model (a model's best trial, the best of all, or the
ensemble): the rows are read and checked like an upload (the numbers by ``automl.data.values``'
rules), encoded with the study's fitted encoder (unseen values -> the out-of-vocabulary index,
counted), scored in chunks so memory stays bounded, and given the calibrated click probability
(ctr) or the predicted rating (rating) in a column of their own. A file that has the label column is
also judged: the study task's metrics on its labelled rows, each with its 95% interval."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from automl.data.datasets import IN_MEMORY_BYTES, get_dataset
from automl.data.read import is_parquet, read_table
from automl.data.schema import MAXIMIZE, Schema
from automl.data.stream import copy_to_parquet
from automl.data.validate import label_vector
from automl.data.values import ScoreChecks
from automl.errors import DataError, NotFoundError, SettingsError
from automl.evaluation.calibration import Platt
from automl.evaluation.comparison import metric_interval
from automl.evaluation.ensemble import from_blend_scale, to_blend_scale
from automl.features.encode import EncodedData
from automl.features.prepare import task_schema
from automl.search import ensembles
from automl.search.config import StudyConfig
from automl.search.data import study_data
from automl.training.artifacts import LOADABLE, loaded_model, stored_calibration
from automl.training.predict import model_outputs
from models import REGISTRY
from storage import Store
from storage.tables import ArtifactRow, StudyRow

CHUNK_ROWS = 100_000
SCORE_TASKS = ("ctr", "rating")
FILE_METRICS = {"ctr": ("auc", "logloss"), "rating": ("rmse", "mae")}     # judged on a scored file's labelled rows


@dataclass
class Member:
    """One stored model, ready to score: its outputs are calibrated like the leaderboard's."""

    model_name: str
    trial_number: int
    model: object
    calibration: Platt | None

    def outputs(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        """Logits (ctr, calibrated) or ratings [n], float64."""
        raw = model_outputs(self.model, batch)
        return self.calibration.apply(raw) if self.calibration else raw


@dataclass
class Scorer:
    """The stored model(s) of a study and the encoder of its dataset."""

    task: str
    data: EncodedData
    members: dict[str, Member]
    weights: dict[str, float]            # model -> share (one model: 1.0)
    what: str                            # e.g. "deepfm (trial 7)" or "ensemble of fm 0.6, deepfm 0.4"
    schema: Schema | None = None         # the study's: its label column and the label's positive value
    unseen: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    output: str | None = None            # the column ``score_file`` wrote the scores into
    notes: list[str] = field(default_factory=list)     # ``score_file``'s: on reading, and values counted as missing
    labelled: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)   # each chunk's labelled rows:
                                                                                  # (labels [m], scores [m])

    @property
    def column(self) -> str:
        """The model's output name: probability (ctr) or rating."""
        return "probability" if self.task == "ctr" else "rating"

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities (ctr) or ratings [len(frame)] for the rows of ``frame`` (the blend scale of
        ``automl.evaluation.ensemble``: a weighted mean of the members'); counts unseen values."""
        reads_history = any("history" in REGISTRY[m].requires for m in self.members)
        arrays, unseen = self.data.encoder.apply(frame, self.data.events, history=reads_history)
        for name, n in unseen.items():
            self.unseen[name] = self.unseen.get(name, 0) + n
        self.rows += len(frame)
        batch = {k: torch.from_numpy(v) for k, v in arrays.items()}
        return sum(w * to_blend_scale(self.task, self.members[m].outputs(batch)) for m, w in self.weights.items())

    def keep_labels(self, frame: pd.DataFrame, scores: np.ndarray) -> None:
        """Keep the labels of ``frame``'s rows that have one (none without the label column), with their
        ``scores`` [len(frame)] (``score``'s)."""
        label = self.schema.label if self.schema else None
        if label is None or label not in frame.columns:
            return
        present = frame[label].notna().to_numpy()
        labels = label_vector(frame[present], self.schema)
        known = np.isfinite(labels)              # a rating that is no number counts as no label
        self.labelled.append((labels[known], np.asarray(scores)[present][known]))

    @property
    def labelled_rows(self) -> int:
        """How many of the scored rows have a label."""
        return sum(len(labels) for labels, _ in self.labelled)

    def figures(self) -> dict[str, tuple[float, float, float]]:
        """Metric -> (value, low, high), 95%, of ``FILE_METRICS[task]`` on the scored rows with a label ({} without
        any; no AUC unless both classes are among them)."""
        labels = np.concatenate([lab for lab, _ in self.labelled]) if self.labelled else np.zeros(0)
        if not len(labels):
            return {}
        outputs = from_blend_scale(self.task, np.concatenate([out for _, out in self.labelled]))
        return {metric: metric_interval(self.task, metric, labels.astype(np.float64), outputs)
                for metric in FILE_METRICS[self.task] if metric != "auc" or len(np.unique(labels)) == 2}


def study_scorer(store: Store, study: StudyRow, home: Path, *, model: str | None = None, trial: int | None = None,
                 ensemble: bool = False) -> Scorer:
    """The scorer of ``model``'s best trial, of ``trial``, of the ensemble, or (default) of the study's
    best stored trial on its selection metric."""
    if study.task not in SCORE_TASKS:
        raise SettingsError(f"study {study.name!r} is an {study.task} study: its models rank items for users; "
                            "use `crossboard recommend` instead of scoring rows")
    data = study_data(store, study, StudyConfig.from_json(study.config_json), home, torch.device("cpu"))
    artifacts = stored_artifacts(store, study)
    if ensemble:
        stored = ensembles.stored(store, study.id)
        if stored is None:
            raise NotFoundError(f"study {study.name!r} has no ensemble (it needs two models with stored outputs)")
        stale = [m for m, t in stored.trials.items() if m not in artifacts or artifacts[m].trial_number != t]
        if stale:
            raise SettingsError(f"the ensemble's member{'s' * (len(stale) > 1)} {', '.join(stale)} changed since it was "
                                "built; wait for the study to refresh it, or score one model with --model")
        chosen, weights = [artifacts[m] for m in stored.weights], stored.weights
        what = "ensemble of " + ", ".join(f"{m} {w:.2f}" for m, w in stored.weights.items())
    else:
        artifact = pick_artifact(study, artifacts, model, trial)
        chosen, weights = [artifact], {artifact.model: 1.0}
        what = f"{artifact.model} (trial {artifact.trial_number})"
    members = {a.model: member(a, data) for a in chosen}
    return Scorer(study.task, data, members, weights, what, task_schema(get_dataset(store, study.dataset_id), study.task))


def stored_artifacts(store: Store, study: StudyRow) -> dict[str, ArtifactRow]:
    """model -> its best trial's stored fitted model; NotFoundError when there is none yet."""
    artifacts = {a.model: a for a in store.artifacts(study.id) if a.weights_format in LOADABLE}
    if not artifacts:
        raise NotFoundError(f"study {study.name!r} has no stored model yet; let a trial complete first "
                            "(baselines such as pop and random keep nothing to reuse)")
    return artifacts


def pick_artifact(study: StudyRow, artifacts: dict[str, ArtifactRow], model: str | None,
                  trial: int | None) -> ArtifactRow:
    if trial is not None:
        found = next((a for a in artifacts.values() if a.trial_number == trial), None)
        if found is None:
            kept = ", ".join(f"{a.trial_number} ({a.model})" for a in artifacts.values())
            raise NotFoundError(f"trial {trial} of study {study.name!r} has no stored model: only each model's best "
                                f"trial keeps it ({kept}); use --model, or one of those trials")
        return found
    if model is not None:
        if model not in artifacts:
            raise NotFoundError(f"study {study.name!r} has no stored {model!r} model; the stored ones are "
                                f"{', '.join(sorted(artifacts))}")
        return artifacts[model]
    sign = -1 if study.metric in MAXIMIZE else 1
    return min(artifacts.values(), key=lambda a: sign * a.value)


def member(artifact: ArtifactRow, data: EncodedData) -> Member:
    config = json.loads(artifact.config_json)
    card = REGISTRY[artifact.model]
    if "history" in card.requires and (data.encoder is None or data.encoder.history is None):
        raise SettingsError(f"{artifact.model} reads behavior histories, and this dataset's encoding keeps none to "
                            "build them for new rows: choose another model with --model")
    model = loaded_model(card, config["params"], data.spec, artifact, torch.device("cpu"))
    return Member(artifact.model, artifact.trial_number, model, stored_calibration(config))


def table_chunks(path: Path, spool: Path, notes: list[str], **reading) -> Iterator[pd.DataFrame]:
    """The rows of the file at ``path`` in frames of CHUNK_ROWS, read and checked like an upload (its
    reading notes appended to ``notes``); a Parquet file, or a text file past the in-memory limit, is
    copied in blocks into ``spool`` first, so memory stays bounded whatever the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"'{path.name}' was not found at {str(path)!r}; check the path.")
    with open(path, "rb") as f:
        magic = f.read(4)
    chunk_rows = CHUNK_ROWS
    if not is_parquet(path.suffix.lower(), magic) and path.stat().st_size <= IN_MEMORY_BYTES:
        raw = read_table(path, path.name, max_bytes=IN_MEMORY_BYTES + 1, **reading)
        notes += raw.notes
        yield from (raw.frame.iloc[start:start + chunk_rows] for start in range(0, len(raw.frame), chunk_rows))
        return
    out = Path(spool) / f"score-{path.stem}.parquet"
    try:
        notes += copy_to_parquet(path, path.name, out, **reading).notes
        for batch in pq.ParquetFile(out).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    finally:
        out.unlink(missing_ok=True)
        out.with_suffix(".part").unlink(missing_ok=True)


def score_file(scorer: Scorer, path: Path, spool: Path, write: Callable[[pd.DataFrame, bool], None],
               progress: Callable[[int], None] | None = None, **reading) -> None:
    """Score every row of ``path``: ``write(chunk with the output column, first)`` per chunk. The rows
    follow ``values.ScoreChecks``: a value of a numeric column that is no number counts as missing
    (noted), an infinite number or a column mostly text is refused, and the scores go into
    ``scorer.output``, which is ``scorer.column`` unless the file has a column so named (never
    overwritten); ``scorer.notes`` says so, and what the reading noted."""
    encoder = scorer.data.encoder
    checks = ScoreChecks([code.name for code in encoder.numeric], encoder.timestamp, scorer.column)
    notes: list[str] = []
    for i, chunk in enumerate(table_chunks(path, spool, notes, **reading)):
        scorer.output = checks.add(chunk)
        scores = scorer.score(chunk)
        scorer.keep_labels(chunk, scores)
        write(chunk.assign(**{scorer.output: scores}), i == 0)
        if progress:
            progress(scorer.rows)
    scorer.notes = notes + checks.notes()


def figures_line(scorer: Scorer) -> str | None:
    """The study task's metrics on the scored file's labelled rows, in words with their 95% intervals (None
    for a file without labels)."""
    figures = scorer.figures()
    if not figures:
        return None
    return (f"on the file's {scorer.labelled_rows:,} labelled rows: " + ", ".join(
        f"{metric} {value:.4f} [{low:.4f}, {high:.4f}]" for metric, (value, low, high) in figures.items())
        + " (95% intervals)")


def unseen_report(scorer: Scorer) -> list[str]:
    """One line per field with values training never saw (they share the out-of-vocabulary index)."""
    return [f"{name}: {n:,} of {scorer.rows:,} rows ({n / max(scorer.rows, 1):.1%}) hold values training never saw"
            for name, n in scorer.unseen.items() if n]
