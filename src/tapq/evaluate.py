"""Accuracy and loss of a model on a split: the measurement every tapq number rests on."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tapq.data import Split
from tapq.device import DeviceLike, model_device


@dataclass(frozen=True)
class EvalResult:
    """Top-1 accuracy in [0, 1], mean cross-entropy, and the logits (for KL and agreement)."""

    accuracy: float
    loss: float
    logits: torch.Tensor


def evaluate(model: nn.Module, split: Split, batch_size: int = 128,
             device: DeviceLike = None) -> EvalResult:
    """Evaluate `model` (switched to eval mode) on every example of `split`.

    The model runs on `device` (default: where its parameters are; it is moved there if
    need be), each batch is moved there in turn, and the logits come back on the CPU.

    Small batches are faster on CPU here: activations of a batch of ~128 small images stay
    in cache between the layers (measured: 2,000 MNIST images 0.31 s at 100 vs 0.79 s at 500).
    """
    device = torch.device(device) if device is not None else model_device(model)
    model.to(device).eval()
    with torch.inference_mode():
        logits = torch.cat([model(split.x[i:i + batch_size].to(device, non_blocking=True))
                            for i in range(0, len(split), batch_size)]).cpu()
    loss = nn.functional.cross_entropy(logits, split.y).item()
    accuracy = (logits.argmax(1) == split.y).float().mean().item()
    return EvalResult(accuracy=accuracy, loss=loss, logits=logits)
