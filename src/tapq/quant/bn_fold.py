"""Folding BatchNorm into the preceding convolution or Linear layer.

Deployed integer kernels never run BatchNorm: its affine transform is merged into the
weights and bias of the layer before it, and it is these merged weights that get
quantized. Quantizing unfolded weights would measure a model nobody deploys.

Pairs are found with ``torch.fx`` (a BN whose only input is a conv/linear output that
nothing else reads). Models that FX cannot trace fall back to forward hooks on an example
input, which see the same pairs but cannot see non-module readers of the conv output;
those models should be traceable or pre-folded by their owner.
"""
from __future__ import annotations

import copy
import warnings

import torch
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

from tapq.quant.layers import QUANTIZABLE_TYPES, replace_module

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


def _pairs_by_fx(model: nn.Module) -> list[tuple[str, str]]:
    graph = fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), _BN_TYPES):
            continue
        source = node.args[0]
        if (isinstance(source, fx.Node) and source.op == "call_module"
                and isinstance(modules.get(source.target), QUANTIZABLE_TYPES)
                and len(source.users) == 1):
            pairs.append((source.target, node.target))
    return pairs


def _pairs_by_hooks(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    produced: dict[int, str] = {}
    readers: dict[int, list[str]] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, QUANTIZABLE_TYPES):
            handles.append(module.register_forward_hook(
                lambda m, i, o, name=name: produced.__setitem__(id(o), name)))
        if name and not list(module.children()):
            handles.append(module.register_forward_pre_hook(
                lambda m, i, name=name: readers.setdefault(id(i[0]), []).append(name)
                if i and isinstance(i[0], torch.Tensor) else None))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    modules = dict(model.named_modules())
    return [(produced[key], names[0]) for key, names in readers.items()
            if key in produced and len(names) == 1 and isinstance(modules[names[0]], _BN_TYPES)]


def fold_batchnorm(model: nn.Module, example: torch.Tensor | None = None
                   ) -> tuple[nn.Module, list[tuple[str, str]]]:
    """A copy of `model` (eval mode) with every foldable BatchNorm merged into its layer.

    Returns the folded copy and the (layer, batchnorm) name pairs that were folded; each
    folded BatchNorm is replaced by ``nn.Identity``.
    """
    folded = copy.deepcopy(model).eval()
    try:
        pairs = _pairs_by_fx(folded)
    except Exception as error:  # FX cannot trace data-dependent control flow
        if example is None:
            warnings.warn(f"BatchNorm not folded: model is not FX-traceable ({error}) "
                          "and no example input was given")
            return folded, []
        pairs = _pairs_by_hooks(folded, example)
    for layer_name, bn_name in pairs:
        layer, bn = folded.get_submodule(layer_name), folded.get_submodule(bn_name)
        if isinstance(layer, nn.Linear):
            weight, bias = fuse_linear_bn_weights(layer.weight, layer.bias, bn.running_mean,
                                                  bn.running_var, bn.eps, bn.weight, bn.bias)
        else:
            weight, bias = fuse_conv_bn_weights(layer.weight, layer.bias, bn.running_mean,
                                                bn.running_var, bn.eps, bn.weight, bn.bias)
        layer.weight, layer.bias = weight, bias
        replace_module(folded, bn_name, nn.Identity())
    return folded, pairs
