"""The methods a proxy calls on a layer, shared by LayerStats and the sandbox worker's copy.

The worker cannot import tapq.proxies (it runs with bare package stubs and only the
modules it names), yet a proxy must see the same `ptq_quant` and `patch_out` in the
sandbox as in process, or a table would depend on where it ran. So both classes take
these functions as their methods. Torch only, no other tapq module.
"""
from __future__ import annotations

import math

import torch

__all__ = ["patch_out", "ptq_quant"]


def ptq_quant(layer, bits: int) -> torch.Tensor:
    """The de-quantized weight at `bits` as the benchmark's PTQ method (``layer.ptq``)
    makes it, with the activations at the benchmark's bit-width; full precision at 32.

    Taken from the table computed with the statistics, so no proxy waits for AdaRound.
    A bit-width the table lacks (the statistic left out, or a bit-width the benchmark
    does not use) gives a NaN tensor: a proxy reading it fails loudly, never silently.
    """
    bits = int(bits)
    if bits >= 32:
        return layer.weight
    table = layer.ptq_weights.get(bits)
    if table is None:
        return torch.full(layer.weight.shape, math.nan)
    return table


def patch_out(layer, weight: torch.Tensor) -> torch.Tensor:
    """The layer's output (before bias) on its sampled `patches`, with `weight` (any
    tensor of the weight's shape, e.g. ``layer.weight - layer.ptq_quant(4)``) in place
    of its own: (rows, out_channels // groups).

    Row r holds the outputs of the channels of group ``patch_group[r]``: all channels
    for an ordinary conv or a Linear (``patches @ weight.reshape(out, -1).T``), the one
    channel a depthwise row belongs to.
    """
    patches = layer.patches
    flat = weight.reshape(weight.shape[0], -1).to(patches.dtype)
    if flat.shape[1] != patches.shape[1]:
        raise ValueError(f"patch_out needs a tensor shaped like the weight {tuple(layer.weight.shape)}, "
                         f"not {tuple(weight.shape)}")
    groups = int(layer.groups)
    if groups == 1:
        return patches @ flat.T
    per_group = flat.reshape(groups, flat.shape[0] // groups, flat.shape[1])
    chosen = per_group[layer.patch_group]  # (rows, out // groups, fan_in)
    return torch.bmm(chosen, patches.unsqueeze(2)).squeeze(2)
