"""The ctr and rating feed: every epoch runs over the model's ``training_data`` (made once from
the training split); a split's outputs are the model's predictions for its rows, judged against
their labels (and users, for GAUC). Splits left in host memory (``EncodedData.streamed``) stream to
the device batch by batch, in training and in prediction alike."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from automl.evaluation.metrics import user_ids
from automl.features.encode import EncodedData
from automl.training.loop import EpochLoop, FitSettings
from automl.training.predict import ms_per_1k, predict, timed


class Pointwise:
    """``automl.training.loop.Feed`` for labeled rows; ``automl.training.implicit.ImplicitFeed``
    is the implicit task's counterpart."""

    def __init__(self, model: nn.Module, params: dict, data: EncodedData):
        self.model, self.data = model, data
        self.train = model.training_data(data.splits["train"])
        model.to(data.device)      # what it kept from host rows (AutoRec's rating matrix) goes to the device

    def rows(self, epoch: int) -> dict[str, torch.Tensor]:
        return self.train

    def outputs(self, split: str) -> np.ndarray:
        return predict(self.model, self.data.splits[split], device=self.data.streams_to(split))

    def loop(self, settings: FitSettings) -> EpochLoop:
        val = self.data.splits["val"]
        return EpochLoop(self.data.spec.task, settings.metric, val["label"].cpu().numpy(), settings.patience,
                         settings.reporter, user_ids(val, self.data.spec))

    def test(self, loop: EpochLoop) -> tuple[dict, float, dict[str, np.ndarray]]:
        test = self.data.splits["test"]
        outputs, seconds = timed(lambda: self.outputs("test"), self.data.device)
        judged, outputs = loop.judge_test(outputs, test["label"].cpu().numpy(), user_ids(test, self.data.spec))
        return judged, ms_per_1k(seconds, len(outputs)), {"test": outputs}

    def notes(self) -> dict[str, float]:
        return self.model.notes(self.data.splits["test"])
