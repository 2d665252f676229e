"""The cost model: model size and BitOps of any model under any bit configuration.

Measured, not declared: forward hooks over one example input count each quantizable
layer's multiply-accumulates (MACs), so it works for user models of any shape. Costs are
measured once per model; pricing a configuration is then arithmetic (what allocation
needs to do thousands of times).

Definitions (as in HAWQ-V3 and the MPQ literature):
- size: quantized weights at their bit-widths plus every other parameter of the
  BN-folded model (biases, norms not folded, embeddings) at 32 bits; MB = 2^20 bytes.
- BitOps: sum over quantizable layers of MACs x weight bits x input-activation bits, per
  input example; non-quantizable operations (pooling, additions) are not counted.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tapq.errors import TapqError
from tapq.quant.bit_config import BitConfig
from tapq.quant.bn_fold import fold_batchnorm
from tapq.quant.layers import QuantLayer, find_quantizable_layers

BYTES_PER_MB = 2 ** 20


@dataclass(frozen=True)
class LayerCost:
    """Weight elements and MACs (for one input example) of one quantizable layer."""

    num_params: int
    macs: int


@dataclass(frozen=True)
class ModelCosts:
    """Configuration-independent costs of a model, priced per configuration on demand.

    Attributes:
        layers: layer name -> LayerCost, in layer order.
        other_params: parameters outside quantizable weights (kept at 32 bits).
    """

    layers: dict[str, LayerCost]
    other_params: int

    def size_bits(self, config: BitConfig) -> int:
        """Model size in bits under `config`."""
        weights = sum(cost.num_params * config.w_bits(name) for name, cost in self.layers.items())
        return weights + 32 * self.other_params

    def size_mb(self, config: BitConfig) -> float:
        """Model size in MB (2^20 bytes) under `config`."""
        return self.size_bits(config) / 8 / BYTES_PER_MB

    def bitops(self, config: BitConfig) -> int:
        """BitOps per example: sum of MACs x weight bits x activation bits."""
        return sum(cost.macs * config.w_bits(name) * config.a_bits(name)
                   for name, cost in self.layers.items())

    def avg_w_bits(self, config: BitConfig) -> float:
        """Parameter-weighted average weight bit-width of the quantizable layers."""
        total = sum(cost.num_params for cost in self.layers.values())
        return sum(cost.num_params * config.w_bits(n) for n, cost in self.layers.items()) / total

    @property
    def total_macs(self) -> int:
        """MACs of all quantizable layers for one example."""
        return sum(cost.macs for cost in self.layers.values())


def _macs(name: str, module: nn.Module, output: object) -> int:
    if not isinstance(output, torch.Tensor):
        raise TapqError(f"layer {name} ({type(module).__name__}) returns "
                        f"{type(output).__name__}, not a tensor; tapq cannot quantize it")
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    kernel = module.weight[0].numel()  # (in_channels / groups) x kernel size
    return output.numel() * kernel


def measure_costs(model: nn.Module, example: torch.Tensor) -> ModelCosts:
    """Measure `model`'s costs with hooks over `example` (one input with a batch dim of 1).

    BatchNorm is folded first, so BN parameters are not counted twice.
    """
    folded, _ = fold_batchnorm(model, example)
    layers = find_quantizable_layers(folded, example)
    # Hooks go on the module the forward pass calls (a QuantLayer, not its inner layer).
    called = {info.name: folded.get_submodule(info.name) for info in layers}
    modules = {n: (m.layer if isinstance(m, QuantLayer) else m) for n, m in called.items()}
    macs: dict[str, int] = dict.fromkeys(modules, 0)
    handles = [module.register_forward_hook(
        lambda m, i, o, name=name: macs.__setitem__(name, macs[name] + _macs(name, modules[name], o)))
        for name, module in called.items()]
    try:
        with torch.no_grad():
            folded(example[:1])
    finally:
        for handle in handles:
            handle.remove()
    quantized = {id(m.weight) for m in modules.values()}
    other = sum(p.numel() for p in folded.parameters() if id(p) not in quantized)
    return ModelCosts({n: LayerCost(m.weight.numel(), macs[n]) for n, m in modules.items()},
                      other)
