"""Taking a model out of CrossBoard: a folder that scores a CSV without CrossBoard, its database or
torch — ``model.onnx`` (batch axis dynamic, the calibration folded in), ``encoder.json`` (the fitted
encoder), ``card.json`` (model, options, metrics, schema, latency) and ``predict.py``, generated
from the very functions that encode rows here, so both encode alike."""

from __future__ import annotations

import csv
import inspect
import io
import json
import tempfile
import time
import zipfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from automl.data import history_column, timestamps, values
from automl.data.names import safe_file_name
from automl.errors import DataError, SettingsError, clip
from automl.features import fitted, history
from automl.serving.score import CHUNK_ROWS, Member, Scorer, study_scorer
from automl.training.artifacts import calibration_dict
from models import REGISTRY
from models.card import ModelKind
from storage import Store
from storage.tables import StudyRow, TrialResultRow

OPSET = 18
TREE_OPSET = 15             # the highest onnxmltools converts LightGBM to
EVENTS = "history_events.npz"    # the log's events new rows' histories are derived from (history models)
TREE_INPUT = "features"         # the tree models' one input: field ids, then the numeric columns
LATENCY_REPEATS = 200


class Exported(nn.Module):
    """A stored model over plain tensors: ``keys`` name the inputs (cat [B, F] int64, num [B, D]
    float32, num_bkt [B, N] int64, seq<j> [B, L] int64); output [B] float32, the calibrated click
    probability (ctr) or the rating."""

    def __init__(self, model: nn.Module, keys: list[str], task: str, scale: float = 1.0, shift: float = 0.0):
        super().__init__()
        self.model, self.keys, self.task, self.scale, self.shift = model, keys, task, scale, shift

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        out = self.model(dict(zip(self.keys, tensors, strict=True)))
        return torch.sigmoid(self.scale * out + self.shift) if self.task == "ctr" else out


def input_keys(scorer: Scorer) -> list[str]:
    """The batch arrays a graph may read: fields, numbers, sequences and the history, when there is one."""
    history = scorer.data.spec.history
    steps = [*(f"hist{a}" for a in range(len(history.field_index))), "hist_len", "hist_age"] if history else []
    return ["cat", "num", "num_bkt", *(f"seq{j}" for j in range(len(scorer.data.encoder.sequences))), *steps]


def exportable(member: Member) -> str | None:
    """Why ``member`` cannot become an ONNX graph, or None."""
    if REGISTRY[member.model_name].kind is ModelKind.BASELINE:
        return f"{member.model_name} is a baseline with nothing fitted to export"
    return None


def graph_feed(arrays: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """What an exported graph reads from encoded arrays: the tree models' one matrix (field ids, then
    the numeric columns, float32 [B, F + D], as ``models.gbdt`` sees them), or the named arrays."""
    if names == [TREE_INPUT]:
        return {TREE_INPUT: np.concatenate([arrays["cat"].astype(np.float32), arrays["num"]], axis=1)}
    return {k: arrays[k] for k in names}


def trees_to_onnx(member: Member, task: str, n_features: int, path: Path) -> None:
    """LightGBM trees as ONNX (onnxmltools), ending in one output [B]: the calibrated probability
    (the Platt map applied to the trees' logit by graph nodes) or the rating."""
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = convert_lightgbm(member.model.booster, initial_types=[(TREE_INPUT, FloatTensorType([None, n_features]))],
                             zipmap=False, target_opset=TREE_OPSET)
    graph = model.graph
    if task == "ctr":
        scale, shift = (member.calibration.scale, member.calibration.shift) if member.calibration else (1.0, 0.0)
        graph.initializer.extend([numpy_helper.from_array(np.array(1, np.int64), "cb_positive_column"),
                                  numpy_helper.from_array(np.array(1.0, np.float32), "cb_one"),
                                  numpy_helper.from_array(np.array(scale, np.float32), "cb_platt_scale"),
                                  numpy_helper.from_array(np.array(shift, np.float32), "cb_platt_shift")])
        graph.node.extend([                        # cb_ names: apart from the converter's own
            helper.make_node("Gather", ["probabilities", "cb_positive_column"], ["cb_p"], axis=1),
            helper.make_node("Sub", ["cb_one", "cb_p"], ["cb_q"]),
            helper.make_node("Log", ["cb_p"], ["cb_log_p"]), helper.make_node("Log", ["cb_q"], ["cb_log_q"]),
            helper.make_node("Sub", ["cb_log_p", "cb_log_q"], ["cb_logit"]),
            helper.make_node("Mul", ["cb_logit", "cb_platt_scale"], ["cb_scaled"]),
            helper.make_node("Add", ["cb_scaled", "cb_platt_shift"], ["cb_calibrated"]),
            helper.make_node("Sigmoid", ["cb_calibrated"], ["output"])])
    else:
        graph.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), "cb_flat"))
        graph.node.append(helper.make_node("Reshape", [graph.output[0].name, "cb_flat"], ["output"]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("output", TensorProto.FLOAT, [None]))
    onnx.save(model, str(path))


def to_onnx(member: Member, task: str, keys: list[str], example: dict[str, torch.Tensor], path: Path) -> Exported:
    """Write ``member``'s model as ONNX at ``path`` (opset OPSET, dynamic batch axis); -> the wrapper."""
    calibration = member.calibration
    wrapper = Exported(member.model, keys, task, *((calibration.scale, calibration.shift) if calibration else ()))
    wrapper.eval()                  # the exporter puts the module back in the mode it found it in
    axes = {k: {0: "batch"} for k in [*keys, "output"]}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)      # the fused attention kernel has no ONNX form (BST)
    try:
        with torch.no_grad():
            torch.onnx.export(wrapper, tuple(example[k] for k in keys), str(path), input_names=keys,
                              output_names=["output"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return wrapper


def export_study(store: Store, study: StudyRow, home: Path, folder: Path, model: str | None = None,
                 trial: int | None = None) -> tuple[dict, Scorer]:
    """Export ``model``'s best trial, ``trial``, or the study's best stored model into ``folder``;
    -> (the card, the scorer)."""
    scorer = study_scorer(store, study, home, model=model, trial=trial)
    member = next(iter(scorer.members.values()))
    result = next((r for r in store.results(study.id) if r.trial_number == member.trial_number), None)
    dataset = store.find_dataset(study.dataset_id)
    return export_scorer(scorer, study, result, dataset.id, dataset.schema_json, folder), scorer


def export_name(study: StudyRow, model: str | None = None) -> str:
    """The export folder's (and zip's) file name: made of the study's name, never a path."""
    return safe_file_name(f"{study.name}-{model or 'best'}", fallback=f"study-{study.id}")


def zipped_export(store: Store, study: StudyRow, home: Path, model: str | None = None) -> bytes:
    """The export folder of ``model`` (default: the best stored) as the bytes of a zip file."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / export_name(study, model)
        export_study(store, study, home, folder, model)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, f"{folder.name}/{path.name}")
        return buffer.getvalue()


def export_scorer(scorer: Scorer, study: StudyRow, result: TrialResultRow | None, dataset_id: str,
                  schema_json: str, folder: Path) -> dict:
    """Write the export folder for the scorer's one model; -> the card (also written as card.json)."""
    member = next(iter(scorer.members.values()))
    why = exportable(member)
    if why:
        raise SettingsError(f"cannot export: {why}")
    folder.mkdir(parents=True, exist_ok=True)
    keys = input_keys(scorer)
    example = {k: v[:16] for k, v in scorer.data.splits["val"].items()}
    if REGISTRY[member.model_name].kind is ModelKind.TREES:
        trees_to_onnx(member, scorer.task, example["cat"].shape[1] + example["num"].shape[1], folder / "model.onnx")
    else:
        to_onnx(member, scorer.task, keys, example, folder / "model.onnx")
    (folder / "encoder.json").write_text(scorer.data.encoder.to_json())
    if scorer.data.events is not None and "history" in REGISTRY[member.model_name].requires:
        np.savez(folder / EVENTS, **scorer.data.events)
    (folder / "predict.py").write_text(predict_script(scorer.column))
    card = {
        "model": member.model_name, "title": REGISTRY[member.model_name].title, "trial": member.trial_number,
        "options": json.loads(result.params_json) if result else None, "task": scorer.task, "output": scorer.column,
        "metric": study.metric, "val": json.loads(result.val_json) if result else None,
        "test": json.loads(result.test_json) if result else None,
        "calibration": calibration_dict(member.calibration),
        "schema": json.loads(schema_json), "training_data_sha256": dataset_id, "study": study.name,
        "crossboard_version": version("crossboard"), "latency_ms": onnx_latency(folder / "model.onnx", example),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / "card.json").write_text(json.dumps(card, indent=2))
    return card


def graph_inputs(session) -> list[str]:
    """The inputs an onnxruntime session reads (the exporter drops those a model never uses)."""
    return [i.name for i in session.get_inputs()]


def onnx_latency(path: Path, example: dict[str, torch.Tensor]) -> dict:
    """p50 / p99 milliseconds of onnxruntime (CPU) for 1 row and for 1,000 rows (repeated example rows)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = {}
    for rows in (1, 1000):
        arrays = {k: np.resize(v.numpy(), (rows, *v.shape[1:])) for k, v in example.items()}
        feed = graph_feed(arrays, graph_inputs(session))
        session.run(None, feed)
        times = []
        for _ in range(LATENCY_REPEATS if rows == 1 else LATENCY_REPEATS // 4):
            tick = time.perf_counter()
            session.run(None, feed)
            times.append((time.perf_counter() - tick) * 1000)
        out[f"{rows}_row{'s' * (rows > 1)}"] = {"p50": float(np.percentile(times, 50)),
                                               "p99": float(np.percentile(times, 99))}
    return out


# -- predict.py: the encoding functions' own source, with a short main ---------------------------------

SCRIPT_HEAD = '''"""Score a file with this exported CrossBoard model: onnxruntime, numpy and pandas only (pyarrow too,
for a Parquet file).

    python predict.py rows.csv > scored.csv        (a CSV file with a header line, or a Parquet file)

Output: the file's columns plus {column!r} (or {column}_1, ... when the file has a column so named).
A problem with the rows ends it with one line, "error: ...", and exit status 2. Generated by CrossBoard
from its own encoding code and value rules."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


class DataError(ValueError):
    """A problem with the rows to score."""


'''

SCRIPT_MAIN = '''

def main(argv):
    here = Path(__file__).resolve().parent
    if len(argv) != 2:
        sys.exit("usage: python predict.py rows.csv > scored.csv   (a CSV file with a header line, or Parquet)")
    import onnxruntime

    encoder = Encoder.from_json((here / "encoder.json").read_text())
    events = dict(np.load(here / EVENTS, allow_pickle=False)) if (here / EVENTS).exists() else None
    session = onnxruntime.InferenceSession(str(here / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    checks = ScoreChecks([code.name for code in encoder.numeric], encoder.timestamp, COLUMN)
    unseen_rows = {}
    try:
        for i, chunk in enumerate(rows_to_score(argv[1], CHUNK_ROWS)):
            output = checks.add(chunk)
            arrays, unseen = encoder.apply(chunk, events, history="hist_len" in inputs)
            scored = session.run(None, graph_feed(arrays, inputs))[0]
            chunk.assign(**{output: scored.astype(np.float64)}).to_csv(sys.stdout, index=False, header=i == 0)
            for name, n in unseen.items():
                unseen_rows[name] = unseen_rows.get(name, 0) + n
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for note in checks.notes():
        print(f"note: {note}", file=sys.stderr)
    for name, n in unseen_rows.items():
        if n:
            print(f"note: {name}: {n} rows hold values training never saw", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
'''


def rows_to_score(path: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """predict.py's reader (its source goes into the script): the rows of a CSV file with a header line,
    or of a Parquet file (by pyarrow, where installed: lists '|'-joined and dictionaries decoded, as
    CrossBoard reads them), in frames of ``chunk_rows``. DataError for a file it cannot read, text that
    is not UTF-8, or a row whose number of fields is not the header's."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as error:
        raise DataError(f"cannot read {path} ({error.strerror}); check the path") from None
    if path.lower().endswith((".parquet", ".pq")) or magic == b"PAR1":
        try:
            import pyarrow as pa
            import pyarrow.compute as pc
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(f"{path} is a Parquet file, which predict.py reads with pyarrow: install it (pip install "
                            "pyarrow), or save the rows as CSV") from None
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                columns = [column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
                           for column in batch.columns]
                columns = [pc.binary_join(column.cast(pa.list_(pa.string())), "|")
                           if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) else column
                           for column in columns]
                yield pa.table(columns, names=batch.schema.names).to_pandas()
        except pa.ArrowException as error:
            raise DataError(f"{path} could not be read as Parquet ({error}); save the rows as CSV") from None
        return
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            for fields in reader:
                if fields and len(fields) != len(header):
                    raise DataError(f"line {reader.line_num} of {path} has {len(fields)} fields but the header has "
                                    f"{len(header)}; fix that row (a stray comma, or an unquoted value holding one?) "
                                    "and score it again")
        yield from pd.read_csv(path, chunksize=chunk_rows)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; save it as UTF-8 and score it again") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as error:
        raise DataError(f"{path} could not be read as CSV ({error}); save it as CSV with a header line") from None


# what predict.py takes from CrossBoard, in dependency order (their source, unchanged)
SCRIPT_PARTS = (clip, timestamps.utc_seconds, timestamps.parse_timestamps, history_column.split_tokens,
                history.pack_newest, history.age_buckets, history._scatter, history.derive_history,
                history.given_history, fitted.time_parts, fitted.numeric_values, fitted.CategoryCode,
                fitted.NumericCode, fitted.SequenceCode, fitted.HistoryCode, fitted.Encoder, fitted._plain, graph_feed,
                values.number_faults, values.refuse_infinite, values.NumberCount, values.free_name, values.ScoreChecks,
                rows_to_score)
SCRIPT_CONSTANTS = {"COMPACT_TIME_NAMES": timestamps.COMPACT_TIME_NAMES, "MS_THRESHOLD": timestamps.MS_THRESHOLD,
                    "N_AGE_BUCKETS": history.N_AGE_BUCKETS, "TREE_INPUT": TREE_INPUT, "EVENTS": EVENTS,
                    "MOSTLY_TEXT": values.MOSTLY_TEXT, "CHUNK_ROWS": CHUNK_ROWS}


def predict_script(column: str) -> str:
    """The text of predict.py (its output column is ``column``)."""
    constants = "".join(f"{name} = {value!r}\n" for name, value in {**SCRIPT_CONSTANTS, "COLUMN": column}.items())
    parts = "\n\n".join(inspect.getsource(part) for part in SCRIPT_PARTS)
    return SCRIPT_HEAD.format(column=column) + constants + "\n\n" + parts + SCRIPT_MAIN
