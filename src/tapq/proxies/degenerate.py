"""Warnings for statistics that carry no signal.

A proxy built on a statistic that is the same for every layer (or zero) ranks layers by
nothing, and its fitness looks like bad luck rather than a broken input. The usual causes:
SynFlow is exactly zero on networks whose activations saturate on its all-ones input
(ReLU6, hard-swish and hard-sigmoid clip the huge |weight| activations to a constant),
and a zero Fisher or gradient means the loss does not depend on the layer (a dead
branch, or a loss that is already saturated on the calibration batch).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

__all__ = ["degenerate_statistics", "warn_degenerate"]

_warned: set[str] = set()


def _listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _constant(tensors: Sequence[torch.Tensor]) -> float | None:
    """The value every element of every tensor has, or None if they differ."""
    if not tensors or any(t.numel() == 0 for t in tensors):
        return None
    low = min(float(t.min()) for t in tensors)
    high = max(float(t.max()) for t in tensors)
    return low if low == high else None


def degenerate_statistics(stats: Sequence) -> list[str]:
    """One message per statistic of `stats` (LayerStats) that carries no signal."""
    messages = []
    synflow = _constant([s.synflow for s in stats])
    zero_synflow = [s.name for s in stats if not bool(s.synflow.any())]
    saturation = ("on its all-ones input with |weights|, saturating activations such as ReLU6 "
                  "or hard-swish clip to a constant and pass no gradient")
    if synflow is not None:
        messages.append(f"SynFlow is {synflow:g} for every weight of every layer, so proxies "
                        f"that read it see no signal ({saturation})")
    elif zero_synflow:
        messages.append(f"SynFlow is zero for {len(zero_synflow)} of {len(stats)} layers "
                        f"({_listed(zero_synflow)}), so proxies that read it cannot rank them "
                        f"({saturation})")
    zero_fisher = [s.name for s in stats if not bool(s.fisher.any())]
    if zero_fisher and len(zero_fisher) == len(stats):
        messages.append("the Fisher information is zero for every layer (the loss does not "
                        "change with the weights on the calibration batch)")
    elif zero_fisher:
        messages.append(f"the Fisher information is zero for {_listed(zero_fisher)} (the loss "
                        "does not depend on these layers on the calibration batch)")
    if stats and all(s.hessian_trace == 0 for s in stats):
        messages.append("the Hessian trace is zero for every layer")
    return messages


def warn_degenerate(stats: Sequence) -> None:
    """Log each degenerate statistic once per process."""
    for message in degenerate_statistics(stats):
        if message not in _warned:
            _warned.add(message)
            logging.getLogger(__name__).warning(f"tapq: warning: {message}")
