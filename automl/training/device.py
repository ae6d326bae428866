"""The training device, chosen once per process: CUDA when available, else the CPU; which GPU
each local worker gets; freeing a device after an out-of-memory error."""

from __future__ import annotations

import gc
import traceback

import torch


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
