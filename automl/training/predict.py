"""A trained model's outputs: batched inference in chunks sized by memory, and its timing."""

from __future__ import annotations

import itertools
import time
import weakref
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from automl.training.device import batches, synchronize

PREDICT_BATCH = 16_384            # the most rows of one inference chunk
MIN_CHUNK = 256
CHUNK_BYTES = 256 * 2**20         # what one chunk's activations may take
PROBE_ROWS = 64
_chunk_rows: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tensor_bytes(value) -> int:
    """Bytes of the tensors in a module's inputs or outputs (nested tuples, lists and dicts)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(tensor_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    return 0


def chunk_rows(model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device | None = None) -> int:
    """Rows per inference chunk such that the model's activations stay near ``CHUNK_BYTES``: every
    module's inputs and outputs on a ``PROBE_ROWS`` probe, summed per row (an upper bound of what
    one forward holds at once), measured once per model. A wide CIN gets small chunks, LR the most.
    ``device``: as ``predict``'s."""
    if model in _chunk_rows:
        return _chunk_rows[model]
    rows = min(PROBE_ROWS, batch["label"].shape[0])
    seen = [0]

    def count(module, inputs, output) -> None:
        seen[0] += tensor_bytes(inputs) + tensor_bytes(output)

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    try:
        model(next(batches(batch, [slice(0, rows)], device)))
    finally:
        for hook in hooks:
            hook.remove()
    per_row = max(seen[0] / max(rows, 1), 1.0)
    _chunk_rows[model] = int(np.clip(CHUNK_BYTES / per_row, MIN_CHUNK, PREDICT_BATCH))
    return _chunk_rows[model]


@torch.inference_mode()
def predict(model: nn.Module, batch: dict[str, torch.Tensor], batch_size: int | None = None,
            device: torch.device | None = None) -> np.ndarray:
    """Model outputs for every row of ``batch`` (logits or ratings) as float64 [n], in chunks of
    ``batch_size`` rows (default: ``chunk_rows``). ``device``: the model's device the rows stream to
    from host memory chunk by chunk (``automl.training.device.batches``); None: they are on it."""
    model.eval()
    n = batch["label"].shape[0]
    if batch_size is None:
        batch_size = chunk_rows(model, batch, device) if n > MIN_CHUNK else max(n, 1)
    chunks = batches(batch, (slice(s, s + batch_size) for s in range(0, n, batch_size)), device)
    outs = [model(chunk) for chunk in chunks]
    return torch.cat(outs).double().cpu().numpy() if outs else np.zeros(0)


def model_outputs(model, batch: dict[str, torch.Tensor]) -> np.ndarray:
    """The outputs of a torch model or a tree ensemble (``models.gbdt``) for ``batch``, float64 [n];
    rows off a torch model's device (a split left in host memory) stream to it."""
    if isinstance(model, nn.Module):
        weights = next(itertools.chain(model.parameters(), model.buffers()), None)
        moved = weights is not None and weights.device != batch["label"].device
        return predict(model, batch, device=weights.device if moved else None)
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
