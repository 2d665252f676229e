"""Accuracy, loss, agreement and KL of a model on a split: what every tapq number rests on.

With labels, the target is top-1 accuracy and the loss the cross-entropy. Without labels
(label-free data) the target is the full-precision model: agreement is the share of
examples whose top-1 class matches the reference logits', and KL the mean
KL(reference || model) in nats; the loss is then that KL.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from tapq.data import Split
from tapq.device import DeviceLike, model_device


@dataclass(frozen=True)
class EvalResult:
    """What one evaluation measured.

    Attributes:
        accuracy: top-1 accuracy in [0, 1]; None without labels.
        loss: mean cross-entropy with labels, else the KL to the reference (NaN with
            neither labels nor reference).
        logits: the model's logits, CPU.
        agreement: share of examples whose top-1 matches the reference's; None without one.
        kl: mean KL(reference || model) in nats; None without a reference.
    """

    accuracy: float | None
    loss: float
    logits: torch.Tensor
    agreement: float | None = None
    kl: float | None = None

    def correct(self, split: Split, reference: torch.Tensor | None = None) -> torch.Tensor:
        """Per example, 1.0 where the top-1 is right: the label's class, or without labels
        the reference's top-1 (the per-example form of the target)."""
        truth = split.y if split.labelled else reference.argmax(1)
        return (self.logits.argmax(1) == truth).float()


def kl_divergence(reference: torch.Tensor, logits: torch.Tensor) -> float:
    """Mean KL(softmax(reference) || softmax(logits)) over examples, in nats."""
    ref = torch.log_softmax(reference.float(), 1)
    out = torch.log_softmax(logits.float(), 1)
    return (ref.exp() * (ref - out)).sum(1).mean().item()


def evaluate(model: nn.Module, split: Split, batch_size: int = 128,
             device: DeviceLike = None, reference: torch.Tensor | None = None) -> EvalResult:
    """Evaluate `model` (switched to eval mode) on every example of `split`.

    `reference`: the full-precision model's logits on the same split; with it the result
    carries agreement and KL (needed for label-free splits, whose loss is that KL).
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
    agreement = kl = None
    if reference is not None:
        agreement = (logits.argmax(1) == reference.argmax(1)).float().mean().item()
        kl = kl_divergence(reference, logits)
    if split.labelled:
        loss = nn.functional.cross_entropy(logits, split.y).item()
        accuracy = (logits.argmax(1) == split.y).float().mean().item()
    else:
        loss, accuracy = (kl if kl is not None else math.nan), None
    return EvalResult(accuracy=accuracy, loss=loss, logits=logits, agreement=agreement, kl=kl)
