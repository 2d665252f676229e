"""Finding the quantizable layers of any ``nn.Module`` and swapping in fake-quantized ones.

A user's model class is never edited: tapq works on a copy and replaces each quantizable
submodule (Conv1d, Conv2d incl. depthwise, Linear) by a ``QuantLayer`` that wraps the
original, found by its qualified name. Layer names are therefore the contract between
bit configurations, statistics, proxies and allocation.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from tapq.errors import TapqError
from tapq.quant.quantizers import FULL_PRECISION, fake_quant_act

QUANTIZABLE_TYPES = (nn.Conv1d, nn.Conv2d, nn.Linear)
# Modules whose forward reads their projection weights directly instead of calling their
# Linear submodules (nn.MultiheadAttention's out_proj is a Linear it never calls): a
# QuantLayer swapped in there would never run, and the module's forward would break.
FUNCTIONAL_PROJECTION_TYPES = (nn.MultiheadAttention,)


@dataclass(frozen=True)
class LayerInfo:
    """One quantizable layer.

    Attributes:
        name: qualified module name, e.g. ``layer1.conv1.0``.
        kind: ``conv``, ``depthwise`` (groups == in_channels > 1) or ``linear``.
        index: position in module registration order (depth order for sequential nets).
        num_params: number of weight elements (bias excluded: it stays at 32 bits).
    """

    name: str
    kind: str
    index: int
    num_params: int


def layer_kind(module: nn.Module) -> str:
    """``linear``, ``depthwise`` or ``conv`` for a quantizable module."""
    if isinstance(module, nn.Linear):
        return "linear"
    if module.groups > 1 and module.groups == module.in_channels:
        return "depthwise"
    return "conv"


def find_quantizable_layers(model: nn.Module, example: torch.Tensor | None = None
                            ) -> list[LayerInfo]:
    """Every quantizable layer of `model`, in registration order.

    With `example` (a batch of inputs), only the layers the eval-mode forward pass calls:
    a layer that never runs (an auxiliary head used only in training, a spare branch)
    has no activations to calibrate and no effect to measure, so it stays at full
    precision -- with a one-time warning naming it -- rather than breaking PTQ and
    statistics. Inside an already quantized model the ``QuantLayer`` wrappers are
    reported under the original layer's name, so names are the same before and after
    quantization.
    """
    _warn_functional_projections(model)
    found = list(_walk(model, ""))
    for name, module in found:
        check_substitutable(name, module)
    if example is not None:
        called = _called_layers(model, [name for name, _ in found], example)
        unused = [name for name, _ in found if name not in called]
        if unused:
            _warn_unused(unused)
            found = [(name, module) for name, module in found if name in called]
    return [LayerInfo(name, layer_kind(module), index, module.weight.numel())
            for index, (name, module) in enumerate(found)]


def _called_layers(model: nn.Module, names: list[str], example: torch.Tensor) -> set[str]:
    """Which of the layers `names` one eval-mode forward pass over `example` calls."""
    called: set[str] = set()
    hooks = [model.get_submodule(name).register_forward_hook(
        lambda module, inputs, output, name=name: called.add(name)) for name in names]
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return called


_warned: set[tuple[str, ...]] = set()


def _listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _warn_once(key: tuple[str, ...], message: str) -> None:
    """Log `message` once per process and `key`: the same model listed again (every
    command lists layers several times) must not repeat it."""
    if key not in _warned:
        _warned.add(key)
        logging.getLogger(__name__).warning(message)


def _warn_unused(names: list[str]) -> None:
    _warn_once(("unused", *names),
               f"tapq: warning: {_listed(names)}: never run by the model's forward pass (in "
               "eval mode), so left at full precision and out of bit allocation")


def _warn_functional_projections(model: nn.Module) -> None:
    names = unquantizable_modules(model)
    if names:
        _warn_once(("functional", type(model).__qualname__, *names),
                   f"tapq: warning: {type(model).__name__}: nn.MultiheadAttention computes its "
                   "projections without calling its Linear modules, so tapq cannot quantize "
                   f"them and leaves them at full precision: {_listed(names)}")


def unquantizable_modules(model: nn.Module) -> list[str]:
    """Qualified names of the modules whose projections tapq cannot quantize.

    These (``nn.MultiheadAttention``) stay at full precision; a model that should have
    its attention quantized must write q/k/v and the output projection as ``nn.Linear``
    modules it calls.
    """
    return [name for name, module in model.named_modules()
            if isinstance(module, FUNCTIONAL_PROJECTION_TYPES)]


def _walk(module: nn.Module, prefix: str):
    """Yield (qualified name, conv/linear module), not descending into what is found
    nor into modules that use their projections functionally."""
    for child_name, child in module.named_children():
        name = prefix + child_name
        if isinstance(child, QuantLayer):
            yield name, child.layer
        elif isinstance(child, QUANTIZABLE_TYPES):
            yield name, child
        elif not isinstance(child, FUNCTIONAL_PROJECTION_TYPES):
            yield from _walk(child, name + ".")


def layer_forward(module: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Run conv/linear `module`'s own forward on `x` with `weight` in place of its weight.

    The module's forward is called, not re-implemented: a subclass with its own padding
    (TensorFlow's "SAME"), scaling or hooks computes exactly what it computes at full
    precision, only on the substituted weight. The weight is swapped for the duration of
    the call (as ``torch.func.functional_call`` does, without its per-call overhead), so
    one module object must not run in two threads at once -- tapq's workers are processes.
    """
    params = module._parameters
    original = params["weight"]
    params["weight"] = weight
    try:
        return module(x)
    finally:
        params["weight"] = original


def check_substitutable(name: str, module: nn.Module) -> None:
    """Raise a one-line TapqError naming layer `name` if tapq cannot swap its weight.

    Quantization substitutes the ``weight`` parameter for the duration of each forward
    call, which needs a plain, initialised parameter named ``weight``: weight-normalised
    or parametrized layers compute theirs from other tensors, lazy ones have none yet.
    """
    kind = type(module).__name__
    weight = module._parameters.get("weight")
    if isinstance(weight, nn.parameter.UninitializedParameter):
        raise TapqError(f"layer {name} ({kind}) is a lazy module that was never run: run "
                        "one forward pass before handing the model to tapq")
    if weight is None:
        raise TapqError(f"layer {name} ({kind}) has no plain 'weight' parameter (weight "
                        "norm or a parametrization computes it); remove it "
                        "(torch.nn.utils.remove_weight_norm / parametrize.remove_parametrizations)"
                        " so tapq can quantize the weight")
    if isinstance(module, nn.Linear):
        ok = weight.dim() == 2 and weight.shape[1] == module.in_features
    else:
        ok = weight.dim() >= 3 and weight.shape[1] == module.in_channels // module.groups
    if not ok:
        raise TapqError(f"layer {name} ({kind}) has a weight of shape {tuple(weight.shape)}, "
                        "not the shape of its layer type; tapq cannot quantize it")


def layer_input(name: str, inputs: tuple) -> torch.Tensor:
    """The input tensor a forward (pre-)hook of layer `name` saw, or a one-line TapqError.

    tapq quantizes a layer's input activation, which it finds as the first positional
    argument of the call; a layer called with keywords only has none to quantize.
    """
    if not inputs or not isinstance(inputs[0], torch.Tensor):
        raise TapqError(f"layer {name} is called without a tensor as its first positional "
                        "argument (e.g. conv(input=x)); call it as layer(x) so tapq can "
                        "quantize its input")
    return inputs[0]


class QuantLayer(nn.Module):
    """A Conv/Linear layer with fake-quantized weights and input activations.

    The de-quantized weight is computed once by PTQ and kept as a buffer; the forward pass
    runs the wrapped layer's own forward on it (``layer_forward``), so inference costs the
    original layer plus one fused activation fake-quant. `name` (the layer's qualified
    name) is only used to say which layer failed.
    """

    def __init__(self, layer: nn.Module, weight: torch.Tensor, w_bits: int, a_bits: int,
                 a_scale: float = 1.0, a_zero_point: int = 0, name: str = "") -> None:
        super().__init__()
        self.layer = layer
        self.register_buffer("weight_q", weight)
        self.w_bits, self.a_bits = w_bits, a_bits
        self.a_scale, self.a_zero_point = a_scale, a_zero_point
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.a_bits < FULL_PRECISION:
            x = fake_quant_act(x, self.a_scale, self.a_zero_point, self.a_bits)
        try:
            return layer_forward(self.layer, x, self.weight_q)
        except (RuntimeError, TypeError, ValueError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise TapqError(f"layer {self.name or '?'} ({type(self.layer).__name__}) fails "
                            f"with its quantized weight: {type(error).__name__}: {message}"
                            ) from error

    def extra_repr(self) -> str:
        return f"w_bits={self.w_bits}, a_bits={self.a_bits}"


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` where submodule `name` is, through its parent (works for Sequential too)."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
