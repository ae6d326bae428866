"""Every ctr model's online modes, as learners the replay drives (``automl.online.replay``):

- ``static``: the offline model, never updated;
- ``incremental``: after each window, one pass over its rows (shuffled, every row once) at the
  tuned learning rate times ``lr_scale``, the optimizer's state kept from window to window;
- ``retrain``: every ``every`` windows, the tuned configuration fitted again from scratch on all
  the rows revealed so far, the newest window held out for early stopping and calibration, as the
  offline trial held out the newest rows of the initial share.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from automl.evaluation.calibration import Platt
from automl.features.encode import EncodedData
from automl.online.replay import Halt, check
from automl.online.stream import Log
from automl.training.fit import train_and_evaluate
from automl.training.loop import Verdict, loss_function, make_optimizers, train_epoch
from automl.training.predict import model_outputs
from models.card import ModelCard
from models.layers.penalty import Penalized
from models.spec import DataSpec

INCREMENTAL_LR_SCALES = (0.3, 1.0, 3.0)
RETRAIN_EVERY = (1, 2, 4)


def clone(model):
    """An independent copy of a fitted model (torch or trees); a torch model's pending penalty terms
    (the last training batch's, already spent) are dropped first, as they hold that batch's graph."""
    if not isinstance(model, nn.Module):
        return model
    for module in model.modules():
        if isinstance(module, Penalized):
            module.drop_penalty()
    return copy.deepcopy(model)


def scaled_lr(params: dict, scale: float) -> dict:
    """``params`` with every learning rate (``lr`` and a group's ``<group>_lr``) times ``scale``."""
    return {k: v * scale if k == "lr" or k.endswith("_lr") else v for k, v in params.items()}


class Static:
    """The offline model (torch or trees), scoring each window; it never learns."""

    def __init__(self, model):
        self.model = model

    def score(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        return model_outputs(self.model, batch)

    def learn(self, log: Log, start: int, end: int) -> None:
        return None

    def held_out_calibration(self) -> Platt | None:
        return None


class Incremental(Static):
    """One pass over each revealed window (torch models)."""

    def __init__(self, model: nn.Module, params: dict, lr_scale: float):
        super().__init__(model)
        self.optimizers = make_optimizers(model, scaled_lr(params, lr_scale))
        self.loss_fn, self.batch_size = loss_function("ctr"), params["batch_size"]
        self.precision = params.get("precision", "fp32")

    def learn(self, log: Log, start: int, end: int) -> None:
        train_epoch(self.model, self.optimizers, self.loss_fn, self.model.training_data(log.take(start, end)),
                    self.batch_size, keep_last=True, precision=self.precision)


@dataclass(frozen=True)
class Refit:
    """How ``retrain`` fits: the card, its tuned ``params``, the data's spec, the offline
    trial's settings (``metric``, ``max_epochs``, ``patience``, ``seed``) and the replay's ``halt``,
    asked after every epoch of a refit, whose seconds left cap the refit's time."""

    card: ModelCard
    params: dict
    spec: DataSpec
    metric: str
    max_epochs: int
    patience: int
    seed: int
    halt: Halt | None = None


class Retrain(Static):
    """Refit on every revealed row each ``every`` windows."""

    def __init__(self, model, refit: Refit, every: int):
        super().__init__(model)
        self.refit, self.every, self.waiting = refit, every, 0
        self.calibration: Platt | None = None

    def learn(self, log: Log, start: int, end: int) -> None:
        self.waiting += 1
        if self.waiting < self.every:
            return
        self.waiting = 0
        window = log.take(start, end)
        data = EncodedData(self.refit.spec, {"train": log.take(0, start), "val": window, "test": window})
        halt = self.refit.halt
        left = halt.seconds_left() if halt is not None else None

        def reporter(epoch: int, value: float, metrics: dict) -> Verdict:
            return Verdict.STOP if halt is not None and halt() else Verdict.GO_ON

        outcome = train_and_evaluate(self.refit.card, self.refit.params, data, metric=self.refit.metric,
                                     max_epochs=self.refit.max_epochs, patience=self.refit.patience,
                                     reporter=reporter, time_cap_s=None if left is None else max(left, 0.0),
                                     seed=self.refit.seed)
        check(halt)                                   # a refit cut short ends the replay, not its figures
        self.model, self.calibration = outcome.model, outcome.calibration or Platt()

    def held_out_calibration(self) -> Platt | None:
        calibration, self.calibration = self.calibration, None
        return calibration
