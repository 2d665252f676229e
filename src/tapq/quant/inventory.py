"""What ``tapq layers`` lists: every quantizable layer with its kind, size and MACs.

One call, so that a Python user gets the same inventory as the command line: BatchNorm is
folded first (it is the folded weights that get quantized) and only layers the eval-mode
forward pass runs are listed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tapq.quant.bn_fold import fold_batchnorm
from tapq.quant.cost import measure_costs
from tapq.quant.layers import find_quantizable_layers

__all__ = ["LayerSummary", "describe_layers"]


@dataclass(frozen=True)
class LayerSummary:
    """One quantizable layer as listed: name, kind, depth index, weights and MACs."""

    name: str
    kind: str
    index: int
    num_params: int
    macs: int

    def to_json(self) -> dict:
        """The ``tapq layers --json`` form."""
        return {"name": self.name, "kind": self.kind, "params": self.num_params,
                "macs": self.macs}


def describe_layers(model: nn.Module, example: torch.Tensor) -> list[LayerSummary]:
    """The quantizable layers of `model` (BN-folded) in order, with their MACs for one
    input like `example` (a batch of one, on the model's device)."""
    costs = measure_costs(model, example)
    layers = find_quantizable_layers(fold_batchnorm(model, example)[0], example)
    return [LayerSummary(info.name, info.kind, info.index, info.num_params,
                         costs.layers[info.name].macs) for info in layers]
