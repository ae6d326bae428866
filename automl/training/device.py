"""The training device, chosen once per process: CUDA when available, else the CPU; which GPU
each local worker gets; how much training data it may hold and how rows that stay in host memory
stream to it batch by batch; freeing a device after an out-of-memory error."""

from __future__ import annotations

import gc
import math
import os
import traceback
from collections.abc import Iterable, Iterator

import torch

from automl.errors import SettingsError

MEMORY_SETTING = "CROSSBOARD_DEVICE_MEMORY_MB"   # the data budget in MB (10^6 bytes), on any device
FREE_SHARE = 0.5        # of a GPU's free memory the data may take by default; the rest: weights, optimizer state, activations
SHARERS_SETTING = "CROSSBOARD_DEVICE_SHARERS"   # set by the launcher: how many local workers share this worker's GPU
Pick = torch.Tensor | slice                      # the rows of one batch: int64 indices [B] or a range


def pick_device(preferred: str | None = None) -> torch.device:
    """``preferred`` ("cpu", "cuda", "cuda:1") if given, else CUDA when present, else CPU."""
    if preferred:
        return torch.device(preferred)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe(device: torch.device) -> str:
    """A readable name, e.g. ``cuda:0 (NVIDIA H200)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (for honest timings); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bf16_available(device: torch.device) -> bool:
    """Whether bfloat16 autocast is a training option on ``device``: a CUDA GPU that supports it
    (the CPU could run it too, but gains nothing from it)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def data_budget(device: torch.device) -> float:
    """Bytes of encoded splits ``device`` may hold; the rest stays in host memory and streams
    (``batches``). ``CROSSBOARD_DEVICE_MEMORY_MB`` when set (on the CPU too: it forces the streaming
    path there); else on CUDA ``gpu_budget`` of its free and total memory (``torch.cuda.mem_get_info``)
    among the workers that share it, and no limit (inf) on the CPU, whose rows are in host memory already."""
    setting = os.environ.get(MEMORY_SETTING, "").strip()
    if setting:
        try:
            megabytes = float(setting)
        except ValueError:
            raise SettingsError(f"{MEMORY_SETTING}={setting!r}: give the device's data budget in MB, "
                                "e.g. 2000") from None
        return max(megabytes, 0.0) * 1e6
    if device.type == "cuda":
        return gpu_budget(*torch.cuda.mem_get_info(device), int(os.environ.get(SHARERS_SETTING, "1") or 1))
    return math.inf


def gpu_budget(free: float, total: float, sharers: int = 1) -> float:
    """``FREE_SHARE`` of a GPU's ``free`` bytes, and no more than an equal part of that share of its
    ``total`` among its ``sharers`` (the workers given this GPU): the workers that load later, when the
    first ones' data is already on it, get the same budget as the first."""
    return FREE_SHARE * min(free, total / max(sharers, 1))


def host_rows(values: torch.Tensor, pick: Pick, pin: bool) -> torch.Tensor:
    """``values``' rows ``pick`` gathered into a new host tensor, page-locked when ``pin`` (so that
    its copy to a GPU runs asynchronously)."""
    if isinstance(pick, slice):
        view = values[pick]
        return torch.empty(view.shape, dtype=view.dtype, pin_memory=True).copy_(view) if pin else view
    out = torch.empty((len(pick), *values.shape[1:]), dtype=values.dtype, pin_memory=pin)
    return torch.index_select(values, 0, pick, out=out)


def batches(rows: dict[str, torch.Tensor], picks: Iterable[Pick],
            device: torch.device | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """The batch dict of each pick of ``rows`` (indices on the rows' device, or a slice).

    ``device`` None: the rows live on the training device and are indexed in place. Else they
    stream there from host memory: each batch gathered on the host (``host_rows``, pinned on CUDA)
    and copied with ``non_blocking=True``, on CUDA on a side stream; the next batch is gathered and
    its copy issued before the consumer queues its step on the current one (one batch ahead), so
    that copy overlaps the step. The consumer's stream waits for a batch's copy before it gets the
    batch, whose tensors are recorded on that stream (``Tensor.record_stream``: the side stream
    allocated them, the allocator must not reuse their memory before the step is done). On the CPU
    the copy is a no-op: the same rows as in place, in the same order."""
    if device is None:
        for pick in picks:
            yield {k: v[pick] for k, v in rows.items()}
        return
    cuda = device.type == "cuda"
    side = torch.cuda.Stream(device) if cuda else None

    def send(pick: Pick) -> dict[str, torch.Tensor]:
        gathered = {k: host_rows(v, pick, cuda) for k, v in rows.items()}
        with torch.cuda.stream(side):                   # None on the CPU: no stream
            return {k: v.to(device, non_blocking=True) for k, v in gathered.items()}

    def receive(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if cuda:
            current = torch.cuda.current_stream(device)
            current.wait_stream(side)
            for value in batch.values():
                value.record_stream(current)
        return batch

    picks = iter(picks)
    first = next(picks, None)
    if first is None:
        return
    pending = send(first)
    for pick in picks:
        ready = receive(pending)     # the consumer's stream waits for this batch's copy only ...
        pending = send(pick)         # ... and the next batch's copy runs beside the consumer's step on it
        yield ready
    yield receive(pending)


def sharers(devices: list[str | None]) -> list[int]:
    """For each local worker's device (``worker_devices``), how many of the workers share it."""
    return [devices.count(d) for d in devices]


def worker_devices(count: int, n_gpus: int | None = None) -> list[str | None]:
    """The device of each of ``count`` local workers: with GPUs, worker n gets cuda:(n mod the
    number of GPUs) (one worker per GPU when ``count`` equals it, more share a GPU); else None (the
    worker picks: the CPU). A study that names its device overrides it (``search.worker.worker_device``)."""
    n_gpus = torch.cuda.device_count() if n_gpus is None else n_gpus
    return [f"cuda:{n % n_gpus}" if n_gpus else None for n in range(count)]


def release_memory(device: torch.device, error: BaseException | None = None) -> None:
    """Free what a failed trial left on ``device``: the tensors its ``error``'s frames still hold,
    then the caching allocator's blocks (CUDA), so the next trial starts from an empty device."""
    if error is not None and error.__traceback__ is not None:
        traceback.clear_frames(error.__traceback__)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
