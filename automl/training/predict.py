"""A trained model's outputs: batched inference, and its timing."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from automl.training.device import synchronize

PREDICT_BATCH = 16_384


@torch.inference_mode()
def predict(model: nn.Module, batch: dict[str, torch.Tensor], batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Model outputs for every row of ``batch`` (logits or ratings) as float64 [n]."""
    model.eval()
    n = batch["label"].shape[0]
    outs = [model({k: v[s:s + batch_size] for k, v in batch.items()}) for s in range(0, n, batch_size)]
    return torch.cat(outs).double().cpu().numpy() if outs else np.zeros(0)


def model_outputs(model, batch: dict[str, torch.Tensor]) -> np.ndarray:
    """The outputs of a torch model or a tree ensemble (``models.gbdt``) for ``batch``, float64 [n]."""
    if isinstance(model, nn.Module):
        return predict(model, batch)
    return model.predict(model.features({k: v.cpu().numpy() for k, v in batch.items()}))


def timed(score: Callable[[], np.ndarray], device: torch.device) -> tuple[np.ndarray, float]:
    """(``score()``'s outputs, the seconds it took), the device synchronized on both sides."""
    synchronize(device)
    tick = time.perf_counter()
    outputs = score()
    synchronize(device)
    return outputs, time.perf_counter() - tick


def ms_per_1k(seconds: float, rows: int) -> float:
    """Latency in milliseconds per 1,000 scored rows."""
    return seconds / max(rows, 1) * 1000 * 1000
