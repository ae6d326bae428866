"""The training device, chosen once per process: CUDA when available, else the CPU."""

from __future__ import annotations

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
