"""ML-100K as CTR with behavior history (issue 5): DIN, its sum-pooling base model, DIEN, BST
and DeepFM (no history), each tuned with the same small Optuna budget, beside DeepCTR-Torch's DIN
and DIEN with their defaults on the same encoded data.

    .venv/bin/python -m benchmarks.ml100k_sequence --trials 1 --epochs 2 --history-len 10

Reads /work/shared/data/ml-100k-grouplens (never copied); label = rating >= 4; temporal split;
history = the user's previous positive movies with each movie's first genre.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch

from automl.data.infer_schema import infer_schema
from automl.data.timestamps import timestamps_of
from automl.data.validate import label_vector
from automl.evaluation.metrics import compute, user_ids
from automl.features.encode import EncodedData, EncodingOptions, encode
from automl.features.splits import make_split
from automl.training.fit import train_and_evaluate
from models import REGISTRY
from models.card import ScopedTrial

DATA = Path("/work/shared/data/ml-100k-grouplens")
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
BATCH = 1024    # pinned for every model, ours and DeepCTR-Torch's, to bound the time on 2 shared cores
# (leaderboard name, card, options pinned for every trial)
ENTRIES = [("DIN", "din", {"pooling": "attention"}), ("base model (DIN, sum pooling)", "din", {"pooling": "sum"}),
           ("DIEN", "dien", {}), ("BST", "bst", {}), ("DeepFM (no history)", "deepfm", {})]


def ml100k_frame() -> pd.DataFrame:
    """One row per rating: user, movie, its first genre, the user's gender and occupation, time, click."""
    ratings = pd.read_csv(DATA / "u.data", sep="\t", names=["user_id", "item_id", "rating", "timestamp"])
    items = pd.read_csv(DATA / "u.item", sep="|", encoding="latin-1", header=None)
    flags = items.iloc[:, 5:24].to_numpy()
    genre = pd.Series(np.array(GENRES)[flags.argmax(1)], index=items[0])
    users = pd.read_csv(DATA / "u.user", sep="|", names=["user_id", "age", "gender", "occupation", "zip"])
    frame = ratings.merge(users[["user_id", "gender", "occupation"]], on="user_id")
    frame["genre"] = genre.reindex(frame["item_id"]).to_numpy()
    frame["click"] = (frame.pop("rating") >= 4).astype(int)
    return frame[["user_id", "item_id", "genre", "gender", "occupation", "timestamp", "click"]]


def encoded(frame: pd.DataFrame, history_len: int) -> EncodedData:
    roles = {"user_id": "user", "item_id": "item", "genre": "categorical", "timestamp": "timestamp"}
    schema = infer_schema(frame, label="click", task="ctr", roles=roles)
    assignment, _ = make_split(label_vector(frame, schema), "ctr", timestamps_of(frame, schema))
    return encode(frame, schema, assignment, EncodingOptions(history_len=history_len))


class Pinned(ScopedTrial):
    """A ScopedTrial whose answers for ``pinned`` options are fixed (e.g. DIN's pooling)."""

    def __init__(self, trial, prefix: str, pinned: dict):
        super().__init__(trial, prefix)
        self.pinned = pinned

    def categorical(self, name, choices):
        return self.pinned[name] if name in self.pinned else super().categorical(name, choices)


def tune(name: str, pinned: dict, data: EncodedData, trials: int, epochs: int) -> dict:
    """TPE over the card's space (paper defaults first), picked on validation AUC."""
    card, best = REGISTRY[name], None
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.enqueue_trial({k: v for k, v in card.enqueue_params().items() if k.split(".", 1)[-1] not in pinned})
    for _ in range(trials):
        trial = study.ask()
        params = card.search_space(Pinned(trial, name, {**pinned, "batch_size": BATCH}), data.spec)
        outcome = train_and_evaluate(card, params, data, metric="auc", max_epochs=epochs, patience=1)
        study.tell(trial, outcome.val["auc"])
        if best is None or outcome.val["auc"] > best["val_auc"]:
            best = {"val_auc": outcome.val["auc"], **outcome.test,
                    "s_per_epoch": outcome.train_seconds / outcome.epochs, "params": params}
    return best


def deepctr_inputs(data: EncodedData, split: str) -> dict[str, np.ndarray]:
    spec, batch = data.spec, data.splits[split]
    x = {f.name: batch["cat"][:, j].numpy() for j, f in enumerate(spec.fields)}
    for a, j in enumerate(spec.history.field_index):
        x[f"hist_{spec.fields[j].name}"] = batch[f"hist{a}"].numpy()
    x["seq_length"] = batch["hist_len"].numpy()
    return x


def deepctr(kind: str, data: EncodedData, epochs: int, embed_dim: int = 16, batch_size: int = BATCH) -> dict:
    """DeepCTR-Torch's DIN / DIEN (AUGRU, no negative sampling) with their defaults otherwise."""
    from deepctr_torch.inputs import SparseFeat, VarLenSparseFeat
    from deepctr_torch.models import DIEN, DIN

    spec = data.spec
    columns = [SparseFeat(f.name, f.cardinality, embed_dim) for f in spec.fields]
    names = [spec.fields[j].name for j in spec.history.field_index]
    columns += [VarLenSparseFeat(SparseFeat(f"hist_{n}", spec.fields[j].cardinality, embed_dim, embedding_name=n),
                                 maxlen=spec.history.max_len, length_name="seq_length")
                for n, j in zip(names, spec.history.field_index)]
    model = DIN(columns, names) if kind == "DIN" else DIEN(columns, names, gru_type="AUGRU")
    model.compile("adam", "binary_crossentropy")
    x = {s: deepctr_inputs(data, s) for s in ("train", "val", "test")}
    y = {s: data.splits[s]["label"].numpy() for s in x}
    best, seconds = None, 0.0
    for _ in range(epochs):
        tick = time.perf_counter()
        model.fit(x["train"], y["train"], batch_size=batch_size, epochs=1, verbose=0)
        seconds += time.perf_counter() - tick
        logits = {s: _logit(model.predict(x[s], batch_size=8192).ravel()) for s in ("val", "test")}
        val = compute("ctr", y["val"], logits["val"])
        if best is None or val["auc"] > best["val_auc"]:
            best = {"val_auc": val["auc"],
                    **compute("ctr", y["test"], logits["test"], user_ids(data.splits["test"], spec))}
    return {**best, "s_per_epoch": seconds / epochs, "params": {"embed_dim": embed_dim, "batch_size": batch_size}}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--history-len", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tick = time.perf_counter()
    data = encoded(ml100k_frame(), args.history_len)
    print(f"encoded {sum(len(b['label']) for b in data.splits.values()):,} rows in {time.perf_counter() - tick:.1f}s;"
          f" history: {data.spec.history.source}; mean length (test) "
          f"{data.splits['test']['hist_len'].float().mean():.1f}", flush=True)
    rows = []
    for label, name, pinned in ENTRIES:
        rows.append((label, tune(name, pinned, data, args.trials, args.epochs)))
        print(label, rows[-1][1], flush=True)
    for kind in ("DIN", "DIEN"):
        rows.append((f"DeepCTR-Torch {kind} (defaults)", deepctr(kind, data, args.epochs)))
        print(rows[-1][0], rows[-1][1], flush=True)
    print("\n| model | test AUC | test GAUC | test logloss | s / epoch | chosen options |")
    print("|---|---|---|---|---|---|")
    for label, r in rows:
        shown = ", ".join(f"{k}={v}" for k, v in r["params"].items()
                          if k not in ("optimizer", "l2", "numeric_mode", "batch_norm"))
        print(f"| {label} | {r['auc']:.4f} | {r['gauc']:.4f} | {r['logloss']:.4f} | {r['s_per_epoch']:.1f} | {shown} |")


if __name__ == "__main__":
    main()
