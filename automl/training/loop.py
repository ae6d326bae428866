"""The one epoch loop of every neural model: epochs over the training rows (device-resident, or
streamed batch by batch from host memory when they are over the device's data budget), validation after
each epoch (reported for pruning and early stopping), the test split scored once at the best epoch.
What an epoch trains on and how a split is judged comes from a ``Feed`` (``automl.training.pointwise``
for ctr and rating, ``automl.training.implicit`` for top-K)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np
import torch
from torch import nn

from automl.evaluation import metrics
from automl.evaluation.calibration import Platt, cross_fitted, expected_calibration_error
from automl.features.encode import EncodedData
from automl.training.device import batches, describe
from models.card import ModelCard
from models.common import SPARSE_ROWS

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adagrad": torch.optim.Adagrad,
              "sgd": torch.optim.SGD}
# the same rule on sparse-row gradients: state and updates only for the rows a batch looked up (Adam and
# AdamW become lazy Adam; the tables carry no weight decay, their L2 is on the rows looked up)
SPARSE_OPTIMIZERS = {"adam": torch.optim.SparseAdam, "adamw": torch.optim.SparseAdam,
                     "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}



class Verdict(Enum):
    """What the reporter says after an epoch."""

    GO_ON = "go on"
    PRUNE = "prune"      # stop now as pruned: the trial is not scored on test
    STOP = "stop"        # stop now and keep the best epoch so far (e.g. the study's time limit has come)


# reporter(epoch, value of the study metric, all validation metrics) -> its verdict
Reporter = Callable[[int, float, dict], Verdict]
TIME_LIMIT_NOTE = "stopped by the time limit after epoch"
TIME_CAP_NOTE = "stopped by the per-trial time cap in epoch"
STREAM_NOTE = "GB of rows streamed from host memory"     # the splits over the device's data budget


@dataclass(frozen=True)
class FitSettings:
    """How long and on what one configuration is trained: the validation ``metric`` that picks
    the epoch, at most ``max_epochs``, early stopping after ``patience`` epochs without
    improvement, the ``reporter`` (pruning, the study's time limit) and ``time_cap_s``, the
    training seconds after which the trial ends (inside an epoch if need be)."""

    metric: str
    max_epochs: int = 10
    patience: int = 2
    reporter: Reporter | None = None
    time_cap_s: float | None = None


class TrainingDiverged(Exception):
    """The loss or the predictions stopped being finite; the message says when and what to try."""


@dataclass
class TrialOutcome:
    val: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    epochs: int
    train_seconds: float
    n_params: int
    latency_ms_per_1k: float
    device: str
    pruned: bool = False
    history: list[dict] = field(default_factory=list)     # per epoch: train loss, val metrics, seconds
    notes: dict[str, float] = field(default_factory=dict)  # e.g. AutoRec's fallbacks to the global mean
    state_dict: dict[str, torch.Tensor] | None = None      # best weights (torch models)
    outputs: dict[str, np.ndarray] | None = None           # "val" (best epoch) and "test" outputs, calibrated
    calibration: Platt | None = None                       # ctr: applied to the model's logits
    model: object | None = None                            # the fitted model at its best epoch (in memory only)


def embedding_tables(model: nn.Module) -> list[nn.Embedding]:
    return [m for m in model.modules() if isinstance(m, nn.Embedding)]


def dense_weights(model: nn.Module) -> set[int]:
    """ids of the parameters weight decay applies to: weight matrices and kernels (two or more
    dimensions) that are not embedding tables (those have their own L2 on the rows a batch uses)."""
    tables = {id(m.weight) for m in embedding_tables(model)}
    return {id(p) for p in model.parameters() if p.dim() >= 2 and id(p) not in tables}


def sparse_updates(model: nn.Module, params: dict) -> bool:
    """Whether the embedding tables learn from sparse-row gradients: ``embedding_updates`` "sparse", or
    "auto" (the defaults; absent in an older trial) when the tables have more than ``SPARSE_ROWS`` rows."""
    chosen = params.get("embedding_updates", "auto")
    if chosen == "auto":
        return sum(m.num_embeddings for m in embedding_tables(model)) > SPARSE_ROWS
    return chosen == "sparse"


def make_optimizers(model: nn.Module, params: dict) -> list[torch.optim.Optimizer]:
    """One optimizer per parameter group: ``main`` uses ``optimizer``/``lr``, a group ``g``
    uses ``g_optimizer``/``g_lr`` (e.g. Wide & Deep's wide part); ``weight_decay`` applies to
    the ``dense_weights`` only. With ``sparse_updates`` the embedding tables give sparse gradients
    and get the group's rule from ``SPARSE_OPTIMIZERS``, the other parameters keep theirs."""
    decay, dense = params.get("weight_decay", 0.0), dense_weights(model)
    sparse = sparse_updates(model, params)
    tables = {id(m.weight) for m in embedding_tables(model)} if sparse else set()
    for module in embedding_tables(model):
        module.sparse = sparse
    optimizers = []
    for group, group_params in model.parameter_groups().items():
        prefix = "" if group == "main" else f"{group}_"
        name = params.get(f"{prefix}optimizer", params.get("optimizer", "adam"))
        lr = params.get(f"{prefix}lr", params.get("lr", 1e-3))
        split = [{"params": [p for p in group_params if (id(p) in dense) == is_dense and id(p) not in tables],
                  "weight_decay": decay if is_dense else 0.0} for is_dense in (True, False)]
        if any(g["params"] for g in split):
            optimizers.append(OPTIMIZERS[name]([g for g in split if g["params"]], lr=lr))
        rows = [p for p in group_params if id(p) in tables]
        if rows:
            optimizers.append(SPARSE_OPTIMIZERS[name](rows, lr=lr))
    return optimizers


def loss_function(task: str):
    return nn.BCEWithLogitsLoss() if task in ("ctr", "implicit") else nn.MSELoss()


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def train_epoch(model, optimizers, loss_fn, train: dict[str, torch.Tensor], batch_size: int,
                deadline: float | None = None, keep_last: bool = False, precision: str = "fp32",
                device: torch.device | None = None) -> float:
    """One pass over a fresh permutation of the training rows; returns the mean batch loss.
    The last incomplete batch is dropped (the permutation differs each epoch) unless ``keep_last``
    (a single pass that must see every row: an online update). With a ``deadline``
    (``time.perf_counter()`` seconds) the pass ends after the batch that crosses it. ``precision``
    "bf16": the forward pass under bfloat16 autocast (weights, embedding lookups and the loss stay
    fp32: autocast computes the matrix products in bf16 and the losses in fp32). ``device``: the
    training device the rows stream to from host memory (``automl.training.device.batches``); None:
    the rows are on it. The permutation is drawn on the training device either way, so streamed
    rows make the same batches as resident ones."""
    model.train()
    n = train["label"].shape[0]
    streamed = device is not None
    device = device if streamed else train["label"].device
    perm = torch.randperm(n, device=device)
    if streamed:
        perm = perm.cpu()            # the host gathers the batches (once per epoch; a no-op on the CPU)
    starts = range(0, n - batch_size + 1, batch_size) if n >= batch_size and not keep_last else range(0, n, batch_size)
    total, done = torch.zeros((), device=device), 0
    dtype = PRECISIONS[precision]
    for batch in batches(train, (perm[start:start + batch_size] for start in starts), device if streamed else None):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model.training_loss(batch, loss_fn).float()
            aux = model.aux_loss()
        if aux is not None:
            loss = loss + aux.float()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        total += loss.detach()
        done += 1
        if deadline is not None and time.perf_counter() >= deadline:
            break
    return total.item() / done


class EpochLoop:
    """Validation, early stopping and reporting shared by neural and tree models.

    On ctr every epoch's validation logits are calibrated (``automl.evaluation.calibration``):
    ``logloss`` and ``ece`` (and an epoch chosen on them) are those of the cross-fitted
    calibration, ``logloss_raw`` the model's own; AUC and GAUC are unchanged by it. The best
    epoch's calibration, fitted on all validation rows, maps the validation and test outputs that
    are kept (``judge_test``)."""

    def __init__(self, task: str, metric: str, y_val: np.ndarray, patience: int, reporter: Reporter | None,
                 users_val: np.ndarray | None = None):
        self.task, self.metric, self.y_val, self.users_val = task, metric, y_val, users_val
        self.patience, self.reporter = patience, reporter
        self.calibrates = task == "ctr"
        self.best_value, self.best_epoch, self.best_val = None, 0, {}
        self.best_outputs: np.ndarray | None = None       # the best epoch's validation outputs (calibrated)
        self.best_calibration: Platt | None = None
        self.history: list[dict] = []
        self.pruned, self.stopped = False, False    # stopped: the reporter said Verdict.STOP
        self.capped = False                          # the per-trial time cap ended the trial

    def after_epoch(self, epoch: int, train_loss: float, val_outputs: np.ndarray, seconds: float) -> tuple[bool, bool]:
        """-> (improved, stop); ``seconds``: the epoch's training pass (its validation not included)."""
        if not math.isfinite(train_loss) or not np.isfinite(val_outputs).all():
            raise TrainingDiverged(
                f"the training loss became {train_loss} at epoch {epoch} (non-finite); "
                "this configuration diverged, try a lower learning rate"
            )
        val, calibration = self.evaluate(val_outputs), None
        if self.calibrates:        # the ranking metrics stay the model's own; logloss and ECE are calibrated
            honest, calibration = cross_fitted(val_outputs, self.y_val)
            probabilities = metrics.sigmoid(honest)
            val.update(logloss_raw=val["logloss"], logloss=metrics.logloss(self.y_val, probabilities),
                       ece=expected_calibration_error(self.y_val, probabilities))
            val_outputs = calibration.apply(val_outputs)        # one monotone map, as the test rows get
        self.history.append({"epoch": epoch, "train_loss": train_loss, "seconds": seconds, **val})
        value = val[self.metric]
        improved = metrics.is_better(self.metric, value, self.best_value)
        if improved:
            self.best_value, self.best_epoch, self.best_val = value, epoch, val
            self.best_outputs, self.best_calibration = val_outputs, calibration
        verdict = self.reporter(epoch, value, val) if self.reporter is not None else Verdict.GO_ON
        if verdict is Verdict.STOP:
            self.stopped = True
            return improved, True
        if verdict is Verdict.PRUNE:
            self.pruned = True
            return improved, True
        return improved, epoch - self.best_epoch >= self.patience

    def notes(self) -> dict[str, float]:
        """What the loop itself has to say about the trial (the epoch a Verdict.STOP or the time cap came in)."""
        return {**({TIME_LIMIT_NOTE: len(self.history)} if self.stopped else {}),
                **({TIME_CAP_NOTE: len(self.history)} if self.capped else {})}

    def evaluate(self, val_outputs: np.ndarray) -> dict[str, float]:
        """The validation metrics of one epoch's outputs."""
        return metrics.compute(self.task, self.y_val, val_outputs, self.users_val)

    def judge_test(self, outputs: np.ndarray, labels: np.ndarray,
                   users: np.ndarray | None = None) -> tuple[dict[str, float], np.ndarray]:
        """(test metrics, test outputs) with the best epoch's calibration applied to ``outputs``."""
        if self.best_calibration is None:
            return metrics.compute(self.task, labels, outputs, users), outputs
        calibrated = self.best_calibration.apply(outputs)
        judged = metrics.compute(self.task, labels, calibrated, users)
        return {**judged, "logloss_raw": metrics.logloss(labels, metrics.sigmoid(outputs))}, calibrated


class Feed(Protocol):
    """What one task trains on and how it judges a split; built as ``feed(model, params, data)``."""

    def rows(self, epoch: int) -> dict[str, torch.Tensor]:
        """The batch dict an epoch iterates over."""

    def outputs(self, split: str) -> np.ndarray:
        """float64 [n] outputs on ``split`` ("val" or "test"), what the loop's metrics read."""

    def loop(self, settings: FitSettings) -> EpochLoop:
        """The EpochLoop that judges validation outputs."""

    def test(self, loop: EpochLoop) -> tuple[dict, float, dict[str, np.ndarray]]:
        """(test metrics, latency in ms per 1,000 scored rows, test outputs by name: "test" float64 [n] and
        any other set the task keeps, e.g. the implicit task's "test_full"), judged by ``loop``."""

    def notes(self) -> dict[str, float]:
        """The model's remarks about the test split (e.g. AutoRec's fallbacks)."""


FeedFactory = Callable[[nn.Module, dict, EncodedData], Feed]


def fit_torch(card: ModelCard, params: dict, data: EncodedData, settings: FitSettings,
              feed: FeedFactory) -> TrialOutcome:
    """Build ``card``'s model, run up to ``settings.max_epochs`` epochs of ``feed``, keep the best
    epoch's weights; an epoch cut by the time cap is still validated."""
    device = data.device
    model = card.build(data.spec, params).to(device)
    optimizers, loss_fn = make_optimizers(model, params), loss_function(data.spec.task)
    source = feed(model, params, data)
    loop = source.loop(settings)
    best_state, started, epoch = None, time.perf_counter(), 0
    deadline = None if settings.time_cap_s is None else started + settings.time_cap_s
    for epoch in range(1, settings.max_epochs + 1):
        tick = time.perf_counter()
        train_loss = train_epoch(model, optimizers, loss_fn, source.rows(epoch), params["batch_size"], deadline,
                                 precision=params.get("precision", "fp32"), device=data.streams_to("train"))
        seconds = time.perf_counter() - tick
        improved, stop = loop.after_epoch(epoch, train_loss, source.outputs("val"), seconds)
        if improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if not stop and deadline is not None and time.perf_counter() >= deadline:
            loop.capped, stop = True, True
        if stop:
            break
    train_seconds = time.perf_counter() - started
    if best_state is not None:
        model.load_state_dict(best_state)
    test_metrics, latency, test_outputs = ({}, float("nan"), None) if loop.pruned else source.test(loop)
    return TrialOutcome(
        val=loop.best_val, test=test_metrics, best_epoch=loop.best_epoch, epochs=epoch,
        train_seconds=train_seconds, n_params=sum(p.numel() for p in model.parameters()),
        latency_ms_per_1k=latency, device=describe(device), pruned=loop.pruned, history=loop.history,
        state_dict={k: v.cpu().contiguous() for k, v in best_state.items()} if best_state else None,
        notes={} if loop.pruned else {**source.notes(), **loop.notes(), **streaming_notes(data)},
        outputs=kept_outputs(loop, test_outputs),
        calibration=loop.best_calibration, model=model,
    )


def streaming_notes(data: EncodedData) -> dict[str, float]:
    """{STREAM_NOTE: the GB of the splits that streamed from host memory}, or nothing when none did."""
    return {STREAM_NOTE: round(data.nbytes(data.streamed) / 1e9, 3)} if data.streamed else {}


def kept_outputs(loop: EpochLoop, test_outputs: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """The best epoch's validation outputs ("val") and the test outputs by name, or None for a pruned trial."""
    if loop.pruned or test_outputs is None or loop.best_outputs is None:
        return None
    return {"val": loop.best_outputs, **test_outputs}


