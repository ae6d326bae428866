"""Options every neural model shares, and the helpers that read them."""

from __future__ import annotations

from models.card import ScopedTrial
from models.layers.embeddings.vocabulary import DIMS, NARROW_FROM, QR_ROWS, TAILS
from models.layers.interactions.gates import PairGates
from models.spec import MIN_COUNTS, DataSpec

WEIGHT_DECAYS = [0.0, 1e-6, 1e-5, 1e-4, 1e-3]
HIDDEN_CHOICES = ["64", "128-64", "256-128", "256-128-64", "400-400-400", "1024-512-256"]


SPARSE_ROWS = 1 << 18        # embedding rows past which "auto" means sparse, and dense is not offered
UPDATES, UPDATES_LARGE = ["auto", "dense", "sparse"], ["auto", "sparse"]


def table_rows(spec: DataSpec) -> int:
    """The rows of every embedding table a model of ``spec`` may build: one per value of each
    categorical field, numeric bucket and sequence column."""
    return (sum(f.cardinality for f in spec.fields) + sum(b.cardinality for b in spec.buckets)
            + sum(s.cardinality for s in spec.sequences))


def common_space(t: ScopedTrial, spec: DataSpec | None, embed: bool = True,
                 l2_range: tuple[float, float] = (1e-8, 1e-3), ids_only: bool = False) -> dict:
    """Optimizer, learning rate, batch size, L2 on the embeddings used, weight decay of the dense
    weight matrices, how the embedding tables are updated (``automl.training.loop.make_optimizers``:
    ``dense``, every row each step, ``sparse``, only the rows a batch looked up, or ``auto``, sparse past
    ``SPARSE_ROWS`` rows, where dense is not offered), which values keep a row (``vocabulary_space``),
    and, unless ``ids_only`` (models that read id fields only, through ``ColumnEmbedding``), how numeric
    columns enter the model (``raw`` standardized values, ``bucketize``d into categorical fields that take
    part in crossing, or ``both``) and whether a field's width follows its size (``embedding_dims``)."""
    large = spec is not None and table_rows(spec) > SPARSE_ROWS
    params = {
        "optimizer": t.categorical("optimizer", ["adam", "adamw", "adagrad"]),
        "lr": t.float("lr", 1e-4, 3e-2, log=True),
        "batch_size": t.categorical("batch_size", [256, 512, 1024, 2048, 4096]),
        "l2": t.float("l2", *l2_range, log=True),
        "weight_decay": t.categorical("weight_decay", WEIGHT_DECAYS),
        "embedding_updates": t.categorical("embedding_updates", UPDATES_LARGE if large else UPDATES),
        **vocabulary_space(t, spec, widths=not ids_only, narrow=embed),
    }
    if not ids_only and spec is not None and spec.numeric:
        params["numeric_mode"] = t.categorical("numeric_mode", ["raw", "bucketize", "both"])
    if embed:
        params["embed_dim"] = t.categorical("embed_dim", [4, 8, 10, 16, 32, 64])
    return params


def vocabulary_space(t: ScopedTrial, spec: DataSpec | None, widths: bool = True, narrow: bool = True) -> dict:
    """Which values keep an embedding row (``models.layers.embeddings.vocabulary``): ``min_count``, when
    the encoding counted the values (``FieldInfo.frequent``); ``tail``: with a field of more than
    ``QR_ROWS`` values, its rarer values as quotient-remainder sums or rows of their own, else "own" only;
    with ``widths``, ``embedding_dims``: "by_frequency" or "same" for a model that may ``narrow`` its
    k-wide embeddings and a field of more than ``NARROW_FROM`` values, else "same" only."""
    if spec is None or not spec.fields:
        return {}
    params = {"min_count": t.categorical("min_count", list(MIN_COUNTS))} if all(f.frequent for f in spec.fields) else {}
    largest = max(f.cardinality for f in spec.fields)
    params["tail"] = t.categorical("tail", TAILS if largest > QR_ROWS else TAILS[:1])
    if widths:
        params["embedding_dims"] = t.categorical("embedding_dims", DIMS if narrow and largest > NARROW_FROM else DIMS[:1])
    return params


def mlp_space(t: ScopedTrial, hidden: list[str] = HIDDEN_CHOICES) -> dict:
    """The MLP's options; ``hidden``: the layer widths to choose from (e.g. ``"400-400-400"``)."""
    return {
        "hidden": t.categorical("hidden", hidden),
        "dropout": t.float("dropout", 0.0, 0.5),
        "batch_norm": t.categorical("batch_norm", [False, True]),
    }


def hidden_sizes(text: str) -> tuple[int, ...]:
    """``"400-400-400"`` -> (400, 400, 400); ``""`` or ``"0"`` -> ()."""
    return tuple(int(x) for x in str(text).split("-") if x and int(x) > 0)


EMBEDDING_DEFAULTS = {"embedding_updates": "auto", "min_count": 1, "tail": "own"}   # every value its own row
COMMON_DEFAULTS = {"optimizer": "adam", "lr": 3e-3, "batch_size": 512, "l2": 1e-6, "weight_decay": 0.0,
                   "numeric_mode": "raw", **EMBEDDING_DEFAULTS, "embedding_dims": "same"}


def task_space(t: ScopedTrial, spec: DataSpec) -> dict:
    """Options of the task rather than the model, searched for every trained model: on
    ``implicit``, the training negatives sampled per positive (NCF: 4, ``TASK_DEFAULTS``)."""
    return {"neg_ratio": t.int("neg_ratio", 1, 10)} if spec.task == "implicit" else {}


TASK_DEFAULTS = {"implicit": {"neg_ratio": 4}}


# The per-pair crossing choice of the factorization family (FM, DeepFM, NFM, PNN, Wide & Deep's
# crosses): "off" crosses every pair as the papers do, "gated" learns a gate per pair (AutoFIS).
PAIR_GATES = ["off", "gated"]
GATE_DEFAULTS = {"pair_gates": "off"}


def gate_space(t: ScopedTrial) -> dict:
    """``pair_gates`` and, when "gated", ``gate_l1``: the L1 weight on the gates per batch (the
    loss is a batch mean), which pushes the gates of pairs the data does not need to 0."""
    params = {"pair_gates": t.categorical("pair_gates", PAIR_GATES)}
    if params["pair_gates"] == "gated":
        params["gate_l1"] = t.float("gate_l1", 1e-4, 3e-2, log=True)
    return params


def pair_gates(params: dict, n_pairs: int) -> PairGates | None:
    """The gates over ``n_pairs`` pairs that ``params`` ask for, or None ("off")."""
    if params.get("pair_gates", "off") != "gated":
        return None
    return PairGates(n_pairs, params["gate_l1"])
