"""The ctr and rating feed: every epoch runs over the model's ``training_data`` (made once from
the training split); a split's outputs are the model's predictions for its rows, judged against
their labels (and users, for GAUC)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from automl.evaluation.metrics import user_ids
from automl.features.encode import EncodedData
from automl.training.loop import EpochLoop, Reporter
from automl.training.predict import predict, score_test


class Pointwise:
    """``automl.training.loop.Feed`` for labeled rows; ``automl.training.implicit.ImplicitFeed``
    is the implicit task's counterpart."""

    def __init__(self, model: nn.Module, params: dict, data: EncodedData):
        self.model, self.data = model, data
        self.train = model.training_data(data.splits["train"])

    def rows(self, epoch: int) -> dict[str, torch.Tensor]:
        return self.train

    def outputs(self, split: str) -> np.ndarray:
        return predict(self.model, self.data.splits[split])

    def loop(self, metric: str, patience: int, reporter: Reporter | None) -> EpochLoop:
        val = self.data.splits["val"]
        return EpochLoop(self.data.spec.task, metric, val["label"].cpu().numpy(), patience, reporter,
                         user_ids(val, self.data.spec))

    def test(self) -> tuple[dict, float, np.ndarray]:
        test = self.data.splits["test"]
        return score_test(lambda: self.outputs("test"), test["label"].cpu().numpy(), self.data.spec.task,
                          self.data.device, user_ids(test, self.data.spec))

    def notes(self) -> dict[str, float]:
        return self.model.notes(self.data.splits["test"])
