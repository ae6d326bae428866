"""Tables at real size: a generated Criteo-like CSV of 1M or 10M rows ingested, encoded and trained
on through the product's own path, with seconds and peak memory per step.

    python -m benchmarks.scale --rows 1000000 10000000 --out benchmarks/results/scale.json
    python -m benchmarks.scale --table benchmarks/results/scale.json

The file: 26 categorical ids as 8-hex-digit hashed strings (Criteo's form) with Zipf frequencies over
vocabularies of 10 to 1,000,000 values (some empty), 13 counts (log-normal, some missing), a click.
Each step runs in its own process, as a user's would, and reports its wall seconds and its peak
resident memory (``ru_maxrss``):

- ``ingest``: ``crossboard ingest FILE`` (read in blocks past the in-memory limit, roles inferred,
  every column checked, stored in the study database);
- ``encode``: the split and the encoded tensors a worker gets (``prepared_data``: vocabularies and
  statistics from the training rows, memory-mapped ``.npy`` files);
- ``epoch``: one epoch of DeepFM and of DCN-V2 (defaults, batch 4,096) on those tensors, then its validation
  (``train_and_evaluate`` with ``max_epochs=1``), once with dense updates of the embedding tables (Adam on
  every row at every step) and once with sparse-row updates (lazy Adam on the rows a batch looked up:
  ``embedding_updates``); other variants with ``--epochs model:updates[:min_count] ...`` (none: no epoch);
- ``baseline``: ``pandas.read_csv`` then a plain numpy encoding of the same columns
  (``np.unique(return_inverse=True)`` per categorical column, mean/std per numeric column).
FuxiCTR's preprocessing is timed beside them when ``fuxictr`` is installed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

CHUNK_ROWS = 1_000_000
N_CAT, N_NUM = 26, 13


def make_file(path: Path, rows: int, seed: int = 0) -> None:
    """Write the Criteo-like CSV in chunks of CHUNK_ROWS rows (memory stays bounded)."""
    rng = np.random.default_rng(seed)
    cards = np.unique(np.geomspace(10, 1_000_000, N_CAT).astype(int))
    cards = np.resize(cards, N_CAT)
    vocabularies = [pa.array([f"{v:08x}" for v in rng.integers(0, 2**32, k)]) for k in cards]
    weights = rng.normal(0, 0.3, (N_CAT, 64))
    writer = None
    for start in range(0, rows, CHUNK_ROWS):
        n = min(CHUNK_ROWS, rows - start)
        columns, logit = {}, np.full(n, -1.2)
        counts = {f"I{j + 1}": np.floor(rng.lognormal(1.0 + 0.15 * j, 1.0, n)) for j in range(N_NUM)}
        for j, k in enumerate(cards):
            codes = np.minimum(rng.zipf(1.2, n) - 1, k - 1)
            logit += weights[j, codes % 64]
            values = vocabularies[j].take(pa.array(codes))
            if j % 5 == 4:                               # some ids missing, as in Criteo
                values = pc.if_else(pa.array(rng.random(n) < 0.1), pa.scalar(None, pa.string()), values)
            columns[f"C{j + 1}"] = values
        logit += 0.3 * (np.log1p(counts["I1"]) - 1.5)
        for j, (name, values) in enumerate(counts.items()):
            columns[name] = pa.array(values.astype(np.int64), mask=(rng.random(n) < 0.15) if j % 4 == 0 else None)
        table = pa.table({"click": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64),
                          **{f"I{j + 1}": columns[f"I{j + 1}"] for j in range(N_NUM)},
                          **{f"C{j + 1}": columns[f"C{j + 1}"] for j in range(N_CAT)}})
        writer = writer or pacsv.CSVWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


EPOCHS = [f"{model}:{updates}" for model in ("deepfm", "dcnv2") for updates in ("dense", "sparse")]


def variant(text: str) -> tuple[str, str, int]:
    """"deepfm:sparse" or "deepfm:sparse:2" -> (model, embedding_updates, min_count)."""
    model, updates, *rest = text.split(":")
    return model, updates, int(rest[0]) if rest else 1


def step(name: str, work: Path, file: Path, model: str = "deepfm", updates: str = "dense", min_count: int = 1) -> dict:
    """Run one step in this process (imports done before the clock starts); -> seconds and peak RSS (MB)."""
    import pandas as pd
    import torch

    from automl.cli import main
    from automl.data.datasets import get_dataset
    from automl.features.prepare import prepared_data
    from automl.training.fit import train_and_evaluate
    from models import REGISTRY
    from storage import Store

    home, db = work / "home", f"sqlite:///{work / 'home' / 'crossboard.db'}"
    detail = {}
    tick = time.perf_counter()
    if name == "ingest":
        assert main(["--home", str(home), "--db", db, "ingest", str(file), "--name", "scale", "--label", "click"]) == 0
    elif name in ("encode", "epoch"):
        store = Store(db)
        data = prepared_data(store, get_dataset(store, "scale"), home)
        detail = {"train_rows": int(data.splits["train"]["label"].shape[0]), "fields": len(data.spec.fields)}
        if name == "epoch":
            torch.set_num_threads(2)
            card = REGISTRY[model]
            tick = time.perf_counter()
            params = {**card.defaults, "batch_size": 4096, "embedding_updates": updates, "min_count": min_count}
            outcome = train_and_evaluate(card, params, data, metric="auc", max_epochs=1, patience=1)
            detail["table_rows"] = sum(m.num_embeddings for m in outcome.model.modules()
                                       if isinstance(m, torch.nn.Embedding))
            detail["val_auc"] = outcome.val["auc"]
            detail["train_seconds"] = outcome.train_seconds
            detail["train_samples_per_s"] = detail["train_rows"] / outcome.train_seconds
    elif name == "baseline":
        frame = pd.read_csv(file)
        for j in range(N_CAT):
            np.unique(frame[f"C{j + 1}"].fillna("").to_numpy(dtype=str), return_inverse=True)
        for j in range(N_NUM):
            x = frame[f"I{j + 1}"].to_numpy(dtype=np.float64)
            (np.nan_to_num(x) - np.nanmean(x)) / np.nanstd(x)
    elif name == "fuxictr":
        detail = fuxictr_preprocess(file, work)
    return {"seconds": time.perf_counter() - tick, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "load_1min": os.getloadavg()[0], **detail}


def fuxictr_preprocess(file: Path, work: Path) -> dict:
    """FuxiCTR's FeatureProcessor fit + transform on the same file (when installed)."""
    try:
        from fuxictr.preprocess import FeatureProcessor
    except ImportError:
        return {"skipped": "fuxictr is not installed"}
    import pandas as pd

    columns = ([{"name": f"I{j + 1}", "active": True, "dtype": "float", "type": "numeric", "fill_na": 0}
                for j in range(N_NUM)]
               + [{"name": f"C{j + 1}", "active": True, "dtype": "str", "type": "categorical"} for j in range(N_CAT)])
    processor = FeatureProcessor(feature_cols=columns, label_col={"name": "click", "dtype": float},
                                 dataset_id="scale", data_root=str(work / "fuxictr"))
    frame = processor.preprocess(pd.read_csv(file))
    processor.fit(frame, min_categr_count=1)
    processor.transform(frame)
    return {}


def run(rows_list: list[int], work: Path, epochs: list[str], baseline: bool = True) -> dict:
    """Each table size in its own folder of ``work`` (removed after; the generated CSV is kept beside it
    and reused: it is the same for the same rows): ingest, encode, the ``epochs`` variants
    ("model:updates[:min_count]"), then the pandas baseline and FuxiCTR unless not ``baseline``."""
    results = {}
    for rows in rows_list:
        folder = work / f"{rows}"
        subprocess.run(["rm", "-rf", str(folder)], check=True)
        folder.mkdir(parents=True)
        file = work / f"criteo_like_{rows}.csv"
        if not file.exists():
            make_file(file, rows)
        entry = {"file_mb": file.stat().st_size / 2**20}
        steps = [("ingest", []), ("encode", []),
                 *[(f"epoch_{text}", ["--variant", text]) for text in epochs],
                 *([("baseline", []), ("fuxictr", [])] if baseline else [])]
        for key, extra in steps:
            name = key.split("_")[0]
            out = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--step", name, "--work", str(folder),
                                  "--file", str(file), *extra], check=False, capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"step {key} failed:\n{out.stderr[-3000:]}")
            entry[key] = json.loads(out.stdout.strip().splitlines()[-1])
            print(rows, key, entry[key], file=sys.stderr, flush=True)
        results[str(rows)] = entry
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    return {"results": results}


def epochs_markdown(result: dict) -> str:
    """One row per table size and epoch variant: seconds, samples/s, validation AUC after the epoch, the
    embedding rows built, and the throughput against the same model's first variant at the smallest size."""
    lines = [("| rows | model | embedding updates | min_count | embedding rows | epoch s | samples/s | val AUC | "
             "throughput / smallest table's |"), "|---|---|---|---|---|---|---|---|---|"]
    first: dict[tuple[str, str, int], float] = {}
    for rows, e in sorted(result["results"].items(), key=lambda item: int(item[0])):
        for key, value in e.items():
            if not key.startswith("epoch_") or not isinstance(value, dict):
                continue
            text = key.removeprefix("epoch_")
            model, updates, min_count = variant(text if ":" in text else text.replace("_", ":"))   # older files: _
            speed = value["train_samples_per_s"]
            base = first.setdefault((model, updates, min_count), speed)
            table_rows = f"{value['table_rows']:,}" if "table_rows" in value else "—"
            lines.append(f"| {int(rows):,} | {model} | {updates} | {min_count} | {table_rows} | "
                         f"{value['train_seconds']:.0f} | {speed:,.0f} | {value['val_auc']:.4f} | {speed / base:.2f}× |")
    return "\n".join(lines)


def markdown(result: dict) -> str:
    lines = [("| rows | CSV MB | ingest s | encode s | ingest + encode s | peak RSS GB (ingest / encode) | "
              "DeepFM epoch s (samples/s) | pandas + numpy s (peak GB) | FuxiCTR s |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for rows, e in result["results"].items():
        first = e.get("epoch") or e.get("epoch_deepfm_dense")       # older files: one DeepFM epoch, "epoch"
        epoch = f"{first['seconds']:.0f} ({first['train_samples_per_s']:,.0f})" if first else "—"
        fuxi = ("—" if "fuxictr" not in e else "not installed" if "skipped" in e["fuxictr"]
                else f"{e['fuxictr']['seconds']:.1f}")
        baseline = (f"{e['baseline']['seconds']:.1f} ({e['baseline']['peak_rss_mb'] / 1024:.2f})" if "baseline" in e
                    else "—")                                      # --no-baseline
        size = f"{e['file_mb']:,.0f}" if e.get("file_mb") else "—"
        lines.append(f"| {int(rows):,} | {size} | {e['ingest']['seconds']:.1f} | "
                     f"{e['encode']['seconds']:.1f} | **{e['ingest']['seconds'] + e['encode']['seconds']:.1f}** | "
                     f"{e['ingest']['peak_rss_mb'] / 1024:.2f} / {e['encode']['peak_rss_mb'] / 1024:.2f} | {epoch} | "
                     f"{baseline} | {fuxi} |")
    epochs = epochs_markdown(result)
    conditions = f"\n\n{result['conditions']}" if result.get("conditions") else ""
    return "\n".join(lines) + ("\n\n" + epochs if epochs.count("\n") > 1 else "") + conditions


def main() -> None:
    from benchmarks.saved import parser_for, run_or_table

    parser = parser_for(__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/crossboard-scale"))
    parser.add_argument("--epochs", nargs="*", default=EPOCHS,
                        help="epoch variants, model:updates[:min_count] (none: no epoch)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the pandas and FuxiCTR baselines")
    parser.add_argument("--step", help=argparse_hidden())
    parser.add_argument("--file", type=Path, help=argparse_hidden())
    parser.add_argument("--variant", default="deepfm:dense", help=argparse_hidden())
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.work, args.file, *variant(args.variant))))
        return
    run_or_table(args, lambda: run(args.rows, args.work, args.epochs, not args.no_baseline), markdown)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
