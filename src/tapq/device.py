"""Where models run: one place that turns a ``--device`` name into a ``torch.device``.

Models move to the device once; data stays on the CPU (``Split`` tensors) and moves a
batch at a time. What tapq keeps or hands on -- logits, ``LayerStats``, benchmark rows --
comes back on the CPU, so callers never see the device.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

from tapq.errors import TapqError

CPU = torch.device("cpu")
# What every ``device`` argument takes: a name such as "cuda:1", a device, or None (CPU).
DeviceLike = torch.device | str | None


def resolve_device(name: DeviceLike = None) -> torch.device:
    """The device `name` (``cpu``, ``cuda`` or ``cuda:N``; None is ``cpu``), checked.

    Raises TapqError, in one line, for an unknown name or a CUDA device this machine
    does not have -- before any model is loaded.
    """
    if name is None:
        return CPU
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise TapqError(f"--device {name}: not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return CPU
    if device.type != "cuda":
        raise TapqError(f"--device {name}: only cpu and cuda (cuda:N) are supported")
    if not torch.cuda.is_available():
        build = ("a CPU build" if torch.version.cuda is None
                 else f"built for CUDA {torch.version.cuda}, but it sees no GPU")
        raise TapqError(f"--device {name}: no CUDA device is available "
                        f"(this torch {torch.__version__} is {build})")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise TapqError(f"--device {name}: this machine has {count} CUDA device"
                        f"{'s' if count != 1 else ''} (cuda:0..cuda:{count - 1})")
    return device


def model_device(model: nn.Module) -> torch.device:
    """The device of `model`'s first parameter or buffer (CPU for a model with neither)."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return CPU if tensor is None else tensor.device


def synchronize(device: torch.device) -> None:
    """Wait for `device`'s queued work (a no-op on the CPU), so a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
