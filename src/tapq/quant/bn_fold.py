"""Folding BatchNorm into the preceding convolution or Linear layer.

Deployed integer kernels never run BatchNorm: its affine transform is merged into the
weights and bias of the layer before it, and it is these merged weights that get
quantized. Quantizing unfolded weights would measure a model nobody deploys.

Pairs are found from the FX graph when the model traces, otherwise from one recorded
forward pass (bn_pairs.py). With an example input every fold is also checked numerically:
the folded layer must reproduce BN(layer(x)) on the layer's real input, and the folded
model the original model's output; a pair that fails is left unfolded. Nothing is left
silently: ``FoldReport`` lists the pairs folded and every BatchNorm left with the reason,
``tapq layers`` prints it, and a warning names the BatchNorms left.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

from tapq.errors import TapqError
from tapq.quant.bn_pairs import (BN_TYPES, Candidates, by_graph, by_hooks, mismatch,
                                 output_tensors)
from tapq.quant.layers import QUANTIZABLE_TYPES, QuantLayer, layer_input, replace_module

__all__ = ["FoldReport", "fold_batchnorm", "fold_pairs", "fold_report_of"]

# Where a folded copy keeps its FoldReport (a plain attribute: copies carry it).
REPORT_ATTRIBUTE = "_tapq_fold_report"

# Folding is exact up to float rounding; a relative error above this means the pair is
# not what it looked like (the layer's forward does more than conv/linear, or its output
# has another reader).
_TOLERANCE = 1e-3
_warned: set[tuple[str, ...]] = set()


@dataclass(frozen=True)
class FoldReport:
    """What ``fold_batchnorm`` did.

    Attributes:
        pairs: (layer, BatchNorm) names folded, in the order the model registers the BNs.
        left: (BatchNorm name, reason) for every BatchNorm still in the folded model.
        method: how pairs were found: ``graph`` (torch.fx), ``forward pass`` (hooks, for
            models FX cannot trace), ``none`` (no BatchNorm, or not searched).
        checked: whether every fold was verified numerically on an example input.
    """

    pairs: tuple[tuple[str, str], ...] = ()
    left: tuple[tuple[str, str], ...] = ()
    method: str = "none"
    checked: bool = False

    @property
    def total(self) -> int:
        """BatchNorm layers in the model."""
        return len(self.pairs) + len(self.left)

    def summary(self) -> str:
        """One line, e.g. ``BatchNorm: 11 of 11 folded (graph, checked on an example)``."""
        if not self.total:
            return "BatchNorm: none in the model"
        how = self.method + (", checked on an example" if self.checked else "")
        line = f"BatchNorm: {len(self.pairs)} of {self.total} folded ({how})"
        if self.left:
            line += "; left: " + "; ".join(f"{bn} ({reason})" for bn, reason in self.left)
        return line


def _fuse(layer: nn.Module, bn: nn.Module) -> None:
    """Merge `bn` (eval mode) into `layer`'s weight and bias, in place."""
    fuse = fuse_linear_bn_weights if isinstance(layer, nn.Linear) else fuse_conv_bn_weights
    weight, bias = fuse(layer.weight, layer.bias, bn.running_mean, bn.running_var, bn.eps,
                        bn.weight, bn.bias)
    layer.weight, layer.bias = weight, bias


def _relative_error(reference: list[torch.Tensor], actual: list[torch.Tensor]) -> float:
    if len(reference) != len(actual):
        return float("inf")
    worst = 0.0
    for ref, out in zip(reference, actual):
        if ref.shape != out.shape:
            return float("inf")
        if not ref.is_floating_point():
            worst = max(worst, 0.0 if torch.equal(ref, out) else float("inf"))
            continue
        scale = float(ref.double().norm()) or 1.0
        worst = max(worst, float((out.double() - ref.double()).norm()) / scale)
    return worst


def _outputs(model: nn.Module, example: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return [t.detach() for t in output_tensors(model(example))]


def _layer_inputs(model: nn.Module, names: list[str], example: torch.Tensor
                  ) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    """Each named layer's first input, and the model's output, over `example`."""
    inputs: dict[str, torch.Tensor] = {}
    handles = [model.get_submodule(name).register_forward_pre_hook(
        lambda m, i, name=name: inputs.setdefault(name, layer_input(name, i).detach()))
        for name in names]
    try:
        output = _outputs(model, example)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, output


def _fold_checked(layer: nn.Module, bn: nn.Module, x: torch.Tensor) -> nn.Module | None:
    """A copy of `layer` with `bn` folded in, or None if it does not reproduce BN(layer(x))."""
    fused = copy.deepcopy(layer)
    _fuse(fused, bn)
    with torch.no_grad():
        error = _relative_error([bn(layer(x))], [fused(x)])
    return fused if error <= _TOLERANCE else None


def _apply(model: nn.Module, pairs: list[tuple[str, str]], fused: dict[str, nn.Module]) -> None:
    for layer_name, bn_name in pairs:
        replace_module(model, layer_name, fused[layer_name])
        replace_module(model, bn_name, nn.Identity())


def _fold_verified(model: nn.Module, found: Candidates, example: torch.Tensor
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Fold the candidates that pass both numerical checks; return (folded, left)."""
    names = [layer for layer, _ in found.pairs]
    if found.output is None:
        inputs, reference = _layer_inputs(model, names, example)
    else:
        inputs, reference = found.inputs, found.output
    left = list(found.left)
    accepted, fused = [], {}
    for layer_name, bn_name in found.pairs:
        layer, bn = model.get_submodule(layer_name), model.get_submodule(bn_name)
        candidate = _fold_checked(layer, bn, inputs[layer_name]) if layer_name in inputs else None
        if candidate is None:
            reason = (f"folding into {layer_name} does not reproduce BN({layer_name}(x)): the "
                      "layer's forward is not a plain conv/linear of its weight")
            left.append((bn_name, reason))
        else:
            accepted.append((layer_name, bn_name))
            fused[layer_name] = candidate
    originals = {name: model.get_submodule(name) for pair in accepted for name in pair}
    _apply(model, accepted, fused)
    if _relative_error(reference, _outputs(model, example)) <= _TOLERANCE:
        return accepted, left
    # Some fold changed the model output (an output read where no hook or graph edge
    # shows it): undo all, then keep only the folds that leave the output unchanged.
    for name, module in originals.items():
        replace_module(model, name, module)
    kept = []
    for pair in accepted:
        _apply(model, [pair], fused)
        if _relative_error(reference, _outputs(model, example)) <= _TOLERANCE:
            kept.append(pair)
        else:
            for name in pair:
                replace_module(model, name, originals[name])
            left.append((pair[1], f"folding into {pair[0]} changes the model's output"))
    return kept, left


def _ordered(model: nn.Module, entries: list[tuple[str, str]], key: int) -> tuple:
    order = {name: k for k, (name, _) in enumerate(model.named_modules())}
    return tuple(sorted(entries, key=lambda entry: order.get(entry[key], -1)))


def fold_batchnorm(model: nn.Module, example: torch.Tensor | None = None
                   ) -> tuple[nn.Module, FoldReport]:
    """A copy of `model` (eval mode) with every foldable BatchNorm merged into its layer.

    `example` (a batch of one input, on the model's device) lets models FX cannot trace
    be folded and makes every fold checked numerically; without it only the graph is used.
    Returns the folded copy -- each folded BatchNorm replaced by ``nn.Identity`` -- and the
    ``FoldReport``. BatchNorms left in place are logged once as a warning. `model` itself
    is never changed.
    """
    folded = copy.deepcopy(model).eval()
    bns = [name for name, m in folded.named_modules() if isinstance(m, BN_TYPES)]
    if not bns:
        return folded, FoldReport()
    if any(isinstance(m, QuantLayer) for m in folded.modules()):
        # Quantized models were folded before quantization: what is left stays.
        return folded, FoldReport(left=tuple((bn, "the model is already quantized")
                                             for bn in bns), method="none")
    try:
        found, method = by_graph(folded), "graph"
    except Exception as error:  # noqa: BLE001 -- FX raises many types (TraceError, TypeError...)
        if example is None:
            reason = (f"the model is not FX-traceable ({type(error).__name__}) and no "
                      "example input was given")
            report = FoldReport(left=tuple((bn, reason) for bn in bns), method="none")
            _warn_left(model, report)
            return folded, report
        found, method = by_hooks(folded, example), "forward pass"
    if example is None:
        fused = {}
        for layer_name, bn_name in found.pairs:
            fused[layer_name] = copy.deepcopy(folded.get_submodule(layer_name))
            _fuse(fused[layer_name], folded.get_submodule(bn_name))
        _apply(folded, found.pairs, fused)
        pairs, left = found.pairs, found.left
    else:
        pairs, left = _fold_verified(folded, found, example)
    report = FoldReport(_ordered(model, pairs, 1), _ordered(model, left, 0), method,
                        checked=example is not None)
    _warn_left(model, report)
    folded.__dict__[REPORT_ATTRIBUTE] = report  # travels with copies, e.g. into checkpoints
    return folded, report


def fold_pairs(model: nn.Module, pairs: list[tuple[str, str]]) -> nn.Module:
    """A copy of `model` (eval mode) with exactly these (layer, BatchNorm) pairs folded,
    e.g. the ones a saved checkpoint was folded with; a pair that does not fit the model
    is a TapqError naming it."""
    folded = copy.deepcopy(model).eval()
    modules = dict(folded.named_modules())
    fused = {}
    for layer_name, bn_name in pairs:
        layer, bn = modules.get(layer_name), modules.get(bn_name)
        if not isinstance(layer, QUANTIZABLE_TYPES) or not isinstance(bn, BN_TYPES):
            raise TapqError(f"cannot fold BatchNorm {bn_name} into {layer_name}: the model "
                            "does not have that conv/linear layer followed by that BatchNorm")
        reason = mismatch(layer_name, layer, bn_name, bn)
        if reason is not None:
            raise TapqError(f"cannot fold BatchNorm {bn_name} into {layer_name}: it {reason}")
        fused[layer_name] = copy.deepcopy(layer)
        _fuse(fused[layer_name], bn)
    _apply(folded, pairs, fused)
    folded.__dict__[REPORT_ATTRIBUTE] = FoldReport(tuple(map(tuple, pairs)), (), "given")
    return folded


def fold_report_of(model: nn.Module) -> FoldReport | None:
    """The report of the fold that produced `model` (or a copy of it), if any."""
    return model.__dict__.get(REPORT_ATTRIBUTE)


def _warn_left(model: nn.Module, report: FoldReport) -> None:
    """Warn once per process and set of BatchNorms left (every command folds often)."""
    if not report.left:
        return
    key = (type(model).__qualname__, *(bn for bn, _ in report.left))
    if key in _warned:
        return
    _warned.add(key)
    shown = "; ".join(f"{bn}: {reason}" for bn, reason in report.left[:5])
    more = f"; and {len(report.left) - 5} more" if len(report.left) > 5 else ""
    logging.getLogger(__name__).warning(
        f"tapq: warning: {len(report.left)} of {report.total} BatchNorm layers of "
        f"{type(model).__name__} left unfolded, so PTQ and statistics see them apart from "
        f"the weights they scale ({shown}{more}); `tapq layers` lists them")
