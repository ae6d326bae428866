"""Training and inference throughput of the CrossBoard models that DeepCTR-Torch also has, each pair
with the same configuration on the same tensors, and of the CrossBoard-only ctr models beside them.

    python -m benchmarks.zoo_throughput [--rows 500000] [--history-rows 100000] [--repeats 2] [--threads 2]
        [--models deepfm,din] --out benchmarks/results/zoo_throughput.json
    python -m benchmarks.zoo_throughput --table benchmarks/results/zoo_throughput.json

Pairs (CrossBoard card: DeepCTR-Torch class): wide_deep: WDL, deepfm: DeepFM, nfm: NFM, afm: AFM,
pnn: PNN (inner product), dcnv2: DCNMix, autoint: AutoInt, xdeepfm: xDeepFM, din: DIN, dien: DIEN.
Each uses DeepCTR-Torch's default architecture (its constructor's defaults; see ``PAIRS`` for where
CrossBoard cannot follow), embedding 16 for every field, no dropout, no L2, Adam at lr 1e-3,
batch 4,096, and CrossBoard's params set to the same network.

Data: the field models read ``benchmarks.throughput.criteo_like`` (26 Zipf categorical fields over
vocabularies of 10..100,000, 13 numeric); DIN, DIEN (and BST) read ``history_like``: user id,
gender, age, candidate item id and category, hour, and a behavior history of 20 past items with
their categories (true lengths 1..20). CrossBoard's side is what a trial runs
(``automl.training.loop.train_epoch`` with ``make_optimizers``, then ``automl.training.predict.predict``)
on device-resident tensors; DeepCTR-Torch's is its own ``model.fit(x, y, batch_size, epochs=1)`` and
``model.predict(x, batch_size)`` on the same rows as numpy arrays (its DataLoader included).
Each measurement is one full epoch and one inference pass of a freshly built model; for every
repeat, every model runs CrossBoard then DeepCTR-Torch, and the best of ``--repeats`` is kept.
The result (``--out``) is one JSON object: ``rows``, ``threads``, ``models`` (per pair: ``config``,
samples/s of both sides, ``ratio_train`` / ``ratio_infer`` = CrossBoard / DeepCTR-Torch, > 1 when
CrossBoard is faster, trainable ``params`` of both) and ``crossboard_only``.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import time
from dataclasses import dataclass, field

import deepctr_torch.models
import numpy as np
import torch
from deepctr_torch.inputs import DenseFeat, SparseFeat, VarLenSparseFeat
from torch import nn

from automl.features.history import N_AGE_BUCKETS
from automl.training.device import synchronize
from automl.training.loop import loss_function, make_optimizers, train_epoch
from automl.training.predict import predict
from benchmarks.saved import parser_for, run_or_table
from benchmarks.throughput import BATCH, criteo_like
from models import REGISTRY
from models.card import ModelKind
from models.spec import DataSpec, FieldInfo, HistoryInfo

EMBED, HISTORY_LEN = 16, 20
# the settings every model shares (CrossBoard's names; DeepCTR-Torch: embedding_dim, zero L2 and
# dropout arguments, compile("adam") at its default lr 1e-3, the same batch size)
SHARED = {"embed_dim": EMBED, "dropout": 0.0, "batch_norm": False, "l2": 0.0, "weight_decay": 0.0,
          "optimizer": "adam", "lr": 1e-3, "batch_size": BATCH, "numeric_mode": "raw"}
# (name, vocabulary, side) of the history data's fields; item_id and cate_id are the behavior fields
HISTORY_FIELDS = (("user_id", 20_000, "user"), ("gender", 2, "user"), ("age", 7, "user"),
                  ("item_id", 50_000, "item"), ("cate_id", 500, "item"), ("hour", 24, "context"))


@dataclass(frozen=True)
class Pair:
    """One model on both sides: DeepCTR-Torch's class and arguments (regularisation aside, every L2
    and dropout argument is 0), CrossBoard's params beyond ``SHARED``, whether DeepCTR-Torch's
    linear part reads the fields and numerics (where CrossBoard's model has one) and whether its
    deep part takes the numerics (AFM's cannot)."""

    deepctr: str
    kwargs: dict
    params: dict
    architecture: str
    linear: bool = True
    dense_in_dnn: bool = True


# Where the networks differ (the parameter counts in the result show by how much):
# - nfm: DeepCTR-Torch's DNN also reads the 13 numerics (CrossBoard's NFM: the linear part only).
# - dcnv2: CrossBoard's DCN-V2 has no mixture of experts: one low-rank expert per layer, W = U V^T;
#   DCNMix runs with num_experts=1 (not its default 4), which still adds an r x r C between two tanh
#   per layer and one gate. Neither side has a linear part (DeepCTR-Torch's gets no columns).
# - autoint: no linear part on either side (CrossBoard's AutoInt+ has none).
# - xdeepfm: DeepCTR-Torch's CIN maps have a bias and a ReLU, CrossBoard's neither.
# - din: the activation unit's widths are fixed at the paper's 80-40 in CrossBoard (DeepCTR-Torch's
#   default 64-16 is set to 80-40); CrossBoard's ``activation`` (Dice) also activates the final MLP,
#   DeepCTR-Torch's DNN stays ReLU (its DIN DNN cannot take Dice on 2-d inputs); DeepCTR-Torch's Dice
#   adds a BatchNorm's affine weights and scores padded steps too.
# - dien: CrossBoard's attention over the interest states is bilinear (h_t W e_a), DeepCTR-Torch's an
#   MLP 64-16 over [q, k, q - k, q k]; both GRUs are 32 wide (2 x 16), the evolving one AUGRU, the
#   auxiliary loss off on both sides; the MLP is ReLU on both (HistoryModel reads ``activation``).
PAIRS: dict[str, Pair] = {
    "wide_deep": Pair("WDL", {"dnn_hidden_units": (256, 128)},
                      {"hidden": "256-128", "cross_source": "auto", "n_crosses": 0, "wide_optimizer": "adam",
                       "wide_lr": 1e-3}, "linear + DNN 256-128"),
    "deepfm": Pair("DeepFM", {"dnn_hidden_units": (256, 128)}, {"hidden": "256-128"}, "linear + FM + DNN 256-128"),
    "nfm": Pair("NFM", {"dnn_hidden_units": (128, 128), "bi_dropout": 0.0},
                {"hidden_layers": 2, "hidden_width": 128, "bi_dropout": 0.0}, "linear + Bi-Interaction + DNN 128-128"),
    "afm": Pair("AFM", {"attention_factor": 8}, {"attention_size": 8, "attention_l2": 0.0},
                "linear + attention-pooled pairs (factor 8)", dense_in_dnn=False),
    "pnn": Pair("PNN", {"dnn_hidden_units": (128, 128), "use_inner": True, "use_outter": False},
                {"hidden": "128-128", "product": "inner"}, "inner products + DNN 128-128"),
    "dcnv2": Pair("DCNMix", {"cross_num": 2, "low_rank": 32, "num_experts": 1, "dnn_hidden_units": (128, 128)},
                  {"structure": "parallel", "cross_layers": 2, "rank": "32", "hidden": "128-128"},
                  "2 cross layers of rank 32 beside DNN 128-128", linear=False),
    "autoint": Pair("AutoInt", {"att_layer_num": 3, "att_head_num": 2, "att_res": True,
                                "dnn_hidden_units": (256, 128)},
                    {"attention_layers": 3, "heads": 2, "attention_dim": EMBED // 2, "residual": True, "dnn": True,
                     "hidden": "256-128"}, "3 attention layers x 2 heads (residual) + DNN 256-128", linear=False),
    "xdeepfm": Pair("xDeepFM", {"cin_layer_size": (256, 128), "cin_split_half": True, "dnn_hidden_units": (256, 256)},
                    {"cin_layers": "256-128", "split_half": True, "hidden": "256-256"},
                    "linear + CIN 256-128 (split half) + DNN 256-256"),
    "din": Pair("DIN", {"dnn_hidden_units": (256, 128), "att_hidden_size": (80, 40), "att_activation": "dice",
                        "att_weight_normalization": False},
                {"hidden": "256-128", "pooling": "attention", "interaction": "product+difference",
                 "normalization": "none", "activation": "dice"},
                "activation unit 80-40 (Dice) + DNN 256-128"),
    "dien": Pair("DIEN", {"gru_type": "AUGRU", "use_negsampling": False, "dnn_hidden_units": (256, 128),
                          "att_hidden_units": (64, 16), "att_activation": "relu", "att_weight_normalization": True},
                 {"hidden": "256-128", "evolving": "augru", "aux_weight": 0.0, "gru_hidden": 2 * EMBED,
                  "activation": "relu"},
                 "GRU 32 + AUGRU 32, no auxiliary loss, + DNN 256-128"),
}


def crossboard_only() -> list[str]:
    """The registry's trained ctr models that DeepCTR-Torch lacks (GBDT, trained by trees, aside)."""
    return [name for name, card in REGISTRY.items()
            if card.kind == ModelKind.TORCH and "ctr" in card.tasks and name not in PAIRS]


def history_like(rows: int, seed: int = 0) -> tuple[DataSpec, dict[str, torch.Tensor]]:
    """Rows of ``HISTORY_FIELDS`` (Zipf-distributed users and items, each item one category) with a
    history of 1..``HISTORY_LEN`` past items (Zipf) and their categories, oldest first; the click is
    likelier when the candidate's category is in the history."""
    rng = np.random.default_rng(seed)
    vocab = {name: size for name, size, _ in HISTORY_FIELDS}
    category = np.concatenate([[0], rng.integers(1, vocab["cate_id"] + 1, vocab["item_id"])])   # item -> cate
    item = np.minimum(rng.zipf(1.2, rows), vocab["item_id"])
    cat = {"user_id": np.minimum(rng.zipf(1.1, rows), vocab["user_id"]), "item_id": item, "cate_id": category[item]}
    cat.update({name: rng.integers(1, size + 1, rows) for name, size, _ in HISTORY_FIELDS if name not in cat})
    length = rng.integers(1, HISTORY_LEN + 1, rows)
    steps_back = length[:, None] - np.arange(HISTORY_LEN)          # 1 = the newest step, <= 0 = padding
    hist_item = np.where(steps_back > 0, np.minimum(rng.zipf(1.2, (rows, HISTORY_LEN)), vocab["item_id"]), 0)
    seen = (category[hist_item] == cat["cate_id"][:, None]).any(1)
    label = (rng.random(rows) < 1 / (1 + np.exp(1.0 - 1.5 * seen - 0.3 * (cat["gender"] == 1)))).astype(np.float32)
    names = [name for name, _, _ in HISTORY_FIELDS]
    item_field, cate_field = names.index("item_id"), names.index("cate_id")
    spec = DataSpec(task="ctr", fields=tuple(FieldInfo(name, size + 1, side) for name, size, side in HISTORY_FIELDS),
                    numeric=(), buckets=(), user_field=0, item_field=item_field, label_mean=float(label.mean()),
                    history=HistoryInfo(HISTORY_LEN, (item_field, cate_field), N_AGE_BUCKETS, "history_like"))
    batch = {"cat": torch.from_numpy(np.stack([cat[name] for name in names], 1).astype(np.int64)),
             "num": torch.zeros(rows, 0), "num_bkt": torch.zeros(rows, 0, dtype=torch.int64),
             "hist0": torch.from_numpy(hist_item), "hist1": torch.from_numpy(category[hist_item]),
             "hist_len": torch.from_numpy(length),
             "hist_age": torch.from_numpy(np.clip(steps_back, 0, N_AGE_BUCKETS - 1)),
             "label": torch.from_numpy(label)}
    return spec, batch


@dataclass
class Dataset:
    """The rows both sides read: CrossBoard's batch dict, and DeepCTR-Torch's named arrays and
    feature columns (history columns ``hist_<field>`` sharing the field's embedding, ``seq_length``)."""

    spec: DataSpec
    batch: dict[str, torch.Tensor]
    frame: dict[str, np.ndarray] = field(init=False)
    sparse: list = field(init=False)
    dense: list = field(init=False)
    behavior: list[str] = field(init=False)

    def __post_init__(self):
        spec, batch = self.spec, self.batch
        self.frame = {f.name: batch["cat"][:, j].numpy() for j, f in enumerate(spec.fields)}
        self.frame.update({name: batch["num"][:, j].numpy() for j, name in enumerate(spec.numeric)})
        self.sparse = [SparseFeat(f.name, f.cardinality, embedding_dim=EMBED) for f in spec.fields]
        self.dense = [DenseFeat(name, 1) for name in spec.numeric]
        self.behavior = []
        if spec.history is not None:
            for a, j in enumerate(spec.history.field_index):
                name = spec.fields[j].name
                self.behavior.append(name)
                self.frame[f"hist_{name}"] = batch[f"hist{a}"].numpy()
                self.sparse.append(VarLenSparseFeat(
                    SparseFeat(f"hist_{name}", spec.fields[j].cardinality, embedding_dim=EMBED, embedding_name=name),
                    maxlen=spec.history.max_len, length_name="seq_length"))
            self.frame["seq_length"] = batch["hist_len"].numpy()


def trainable(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def crossboard_params(name: str) -> dict:
    """The card's defaults, ``SHARED`` (BST's attention dropout off too), then the pair's own params."""
    card = REGISTRY[name]
    off = {"attention_dropout": 0.0} if "attention_dropout" in card.defaults else {}
    return {**card.defaults, **SHARED, **off, **(PAIRS[name].params if name in PAIRS else {})}


def time_crossboard(name: str, params: dict, data: Dataset, batch: dict[str, torch.Tensor]
                    ) -> tuple[float, float, int]:
    """(train seconds, inference seconds, trainable parameters) of ``name`` built fresh, on
    ``batch`` (``data``'s rows on the device)."""
    device = batch["label"].device
    model = REGISTRY[name].build(data.spec, params).to(device)
    optimizers, loss_fn = make_optimizers(model, params), loss_function(data.spec.task)
    synchronize(device)
    tick = time.perf_counter()
    train_epoch(model, optimizers, loss_fn, batch, params["batch_size"], precision=params.get("precision", "fp32"))
    synchronize(device)
    train_s = time.perf_counter() - tick
    tick = time.perf_counter()
    predict(model, batch, batch_size=params["batch_size"])
    synchronize(device)
    return train_s, time.perf_counter() - tick, trainable(model)


def deepctr_kwargs(pair: Pair, device: str = "cpu") -> dict:
    """Every L2 and dropout argument of the class at 0, then the pair's arguments."""
    names = inspect.signature(getattr(deepctr_torch.models, pair.deepctr)).parameters
    return {**{n: 0.0 for n in names if n.startswith("l2_reg") or n.endswith("dropout")}, **pair.kwargs,
            "task": "binary", "device": device}


def time_deepctr(pair: Pair, data: Dataset, device: str = "cpu") -> tuple[float, float, int]:
    """(train seconds, inference seconds, trainable parameters) of DeepCTR-Torch's model built fresh."""
    cls = getattr(deepctr_torch.models, pair.deepctr)
    names = inspect.signature(cls).parameters
    args = [data.sparse + (data.dense if pair.dense_in_dnn else [])]
    if "linear_feature_columns" in names:
        args.insert(0, data.sparse + data.dense if pair.linear else [])
    if "history_feature_list" in names:
        args.append(data.behavior)
    model = cls(*args, **deepctr_kwargs(pair, device))
    model.compile("adam", "binary_crossentropy")
    label = data.batch["label"].numpy()
    tick = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):          # fit prints the device and row counts even at verbose=0
        model.fit(data.frame, label, batch_size=BATCH, epochs=1, verbose=0)
    train_s = time.perf_counter() - tick
    tick = time.perf_counter()
    model.predict(data.frame, batch_size=BATCH)
    return train_s, time.perf_counter() - tick, trainable(model)


def run(rows: int, history_rows: int, repeats: int, threads: int, names: list[str], device: str = "cpu",
        precision: str = "fp32") -> dict:
    """The result object (module docstring) of ``names``, pairs and CrossBoard-only models alike;
    CrossBoard's tensors live on ``device`` (its side under ``precision``)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    reads_history = {name: "history" in REGISTRY[name].requires for name in names}
    data = {history: Dataset(*(history_like(history_rows) if history else criteo_like(rows)))
            for history in set(reads_history.values())}
    resident = {history: {k: v.to(device) for k, v in d.batch.items()} for history, d in data.items()}
    best: dict[tuple[str, str], list[float]] = {}
    counts: dict[tuple[str, str], int] = {}
    for _ in range(repeats):
        for name in names:
            rows_of = data[reads_history[name]]
            params = {**crossboard_params(name), "precision": precision}
            timings = [("crossboard", time_crossboard(name, params, rows_of, resident[reads_history[name]]))]
            if name in PAIRS:
                timings.append(("deepctr", time_deepctr(PAIRS[name], rows_of, device)))
            for side, (train_s, infer_s, count) in timings:
                old = best.get((name, side), [float("inf"), float("inf")])
                best[name, side], counts[name, side] = [min(old[0], train_s), min(old[1], infer_s)], count
    out: dict = {"rows": rows, "history_rows": history_rows, "threads": threads, "repeats": repeats,
                 "device": device, "precision": precision, "models": {}, "crossboard_only": {}}
    for name in names:
        n = len(data[reads_history[name]].batch["label"])
        trained = n - n % BATCH if n >= BATCH else n        # train_epoch drops the last incomplete batch
        ours = [trained / best[name, "crossboard"][0], n / best[name, "crossboard"][1]]
        figures = {"train_samples_per_s": round(ours[0], 1), "infer_samples_per_s": round(ours[1], 1),
                   "params": counts[name, "crossboard"]}
        config = {"rows": n, "batch_size": BATCH, "crossboard": crossboard_params(name)}
        if name not in PAIRS:
            out["crossboard_only"][name] = {"config": config, **figures}
            continue
        pair = PAIRS[name]
        theirs = [n / best[name, "deepctr"][0], n / best[name, "deepctr"][1]]
        figures.update(deepctr_train_samples_per_s=round(theirs[0], 1), ratio_train=round(ours[0] / theirs[0], 3),
                       deepctr_infer_samples_per_s=round(theirs[1], 1), ratio_infer=round(ours[1] / theirs[1], 3),
                       deepctr_params=counts[name, "deepctr"])
        config.update(architecture=pair.architecture, deepctr={"class": pair.deepctr, **deepctr_kwargs(pair, device),
                                                               "linear": pair.linear})
        out["models"][name] = {"config": config, **figures}
    return out


def markdown(result: dict) -> str:
    lines = [("| model | architecture | CrossBoard train /s | DeepCTR-Torch train /s | ratio | "
              "CrossBoard infer /s | DeepCTR-Torch infer /s | ratio | params (CrossBoard / DeepCTR-Torch) |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name, m in result["models"].items():
        lines.append(f"| {name} | {m['config']['architecture']} | {m['train_samples_per_s']:,.0f} | "
                     f"{m['deepctr_train_samples_per_s']:,.0f} | **{m['ratio_train']:.2f}** | "
                     f"{m['infer_samples_per_s']:,.0f} | {m['deepctr_infer_samples_per_s']:,.0f} | "
                     f"**{m['ratio_infer']:.2f}** | {m['params']:,} / {m['deepctr_params']:,} |")
    for name, m in result["crossboard_only"].items():
        lines.append(f"| {name} (CrossBoard only) | defaults | {m['train_samples_per_s']:,.0f} | — | — | "
                     f"{m['infer_samples_per_s']:,.0f} | — | — | {m['params']:,} |")
    lines.append(f"\nOne epoch and one inference pass each, best of {result['repeats']}, {result['threads']} threads; "
                 f"ratio = CrossBoard / DeepCTR-Torch (> 1: CrossBoard faster). Data: Criteo-like, "
                 f"{result['rows']:,} rows (26 Zipf categorical fields, 13 numeric); DIN, DIEN and BST: "
                 f"{result['history_rows']:,} rows of 6 fields with a history of {HISTORY_LEN} past items and "
                 f"categories. Every model: embedding {EMBED}, no dropout, no L2, Adam lr 1e-3, batch {BATCH:,}, "
                 "DeepCTR-Torch's default architecture on both sides (each config in the JSON).")
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--rows", type=int, default=500_000, help="rows of the Criteo-like data")
    parser.add_argument("--history-rows", type=int, default=100_000, help="rows of the history data (DIN, DIEN, BST)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join([*PAIRS, *crossboard_only()]))
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (both sides run there)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="CrossBoard's side only")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else [*PAIRS, *crossboard_only()]
    unknown = sorted(set(names) - {*PAIRS, *crossboard_only()})
    if unknown:
        parser.error(f"unknown models: {', '.join(unknown)}")
    run_or_table(args, lambda: run(args.rows, args.history_rows, args.repeats, args.threads, names, args.device,
                                   args.precision), markdown)


if __name__ == "__main__":
    main()
