"""What ``tapq layers`` lists: every quantizable layer with its kind, size and MACs.

One call, so that a Python user gets the same inventory as the command line: BatchNorm is
folded first (it is the folded weights that get quantized), each layer names the BatchNorm
folded into it, the fold report says which BatchNorms were left and why, and only layers
the eval-mode forward pass runs are listed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tapq.quant.bn_fold import FoldReport, fold_batchnorm
from tapq.quant.cost import measure_costs
from tapq.quant.layers import find_quantizable_layers

__all__ = ["LayerInventory", "LayerSummary", "describe_layers"]


@dataclass(frozen=True)
class LayerSummary:
    """One quantizable layer as listed: name, kind, depth index, weights, MACs, and the
    BatchNorm folded into it (None if none)."""

    name: str
    kind: str
    index: int
    num_params: int
    macs: int
    batchnorm: str | None = None

    def to_json(self) -> dict:
        """The ``tapq layers --json`` form."""
        return {"name": self.name, "kind": self.kind, "params": self.num_params,
                "macs": self.macs, "batchnorm": self.batchnorm}


@dataclass(frozen=True)
class LayerInventory:
    """What ``tapq layers`` shows: the layers and what BatchNorm folding did.

    Attributes:
        layers: the quantizable layers of the BN-folded model, in order.
        fold: the fold report (pairs folded, BatchNorms left and why).
    """

    layers: list[LayerSummary]
    fold: FoldReport

    def __iter__(self):
        """The layers, as ``describe_layers`` returned before it reported the fold."""
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)


def describe_layers(model: nn.Module, example: torch.Tensor) -> LayerInventory:
    """The quantizable layers of `model` (BN-folded) in order, with their MACs for one
    input like `example` (a batch of one, on the model's device), and the fold report."""
    folded, report = fold_batchnorm(model, example)
    costs = measure_costs(folded, example)
    layers = find_quantizable_layers(folded, example)
    into = {layer: bn for layer, bn in report.pairs}
    return LayerInventory([LayerSummary(info.name, info.kind, info.index, info.num_params,
                                        costs.layers[info.name].macs, into.get(info.name))
                           for info in layers], report)
