"""Which BatchNorm layers directly follow which conv/Linear layer (candidates for folding).

Two ways, both deterministic and both keyed by module *name*:

- **Graph** (``torch.fx``): conv, Linear and BatchNorm modules -- subclasses included --
  are leaves of the trace, so a ``Conv2d`` subclass with TensorFlow "SAME" padding (whose
  forward reads the input's shape) does not make the model untraceable. A BN is a
  candidate when its input node is a conv/Linear call whose only reader it is.
- **One forward pass** (for models FX cannot trace): hooks record, per module name, the
  tensor each layer returned and the tensor each BatchNorm received. A BN is a candidate
  when its input *is* (the same object, not modified in place since) the output of one
  layer, and the autograd graph of that pass shows no other reader of that output.
  Tensors are compared by identity while they are alive, never by ``id()`` -- Python
  reuses ids of freed tensors, which paired BatchNorms with unrelated layers.

Every BatchNorm that is not a candidate comes back with the reason, for the fold report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import fx, nn

from tapq.quant.layers import QUANTIZABLE_TYPES

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass
class Candidates:
    """Pairs that may be folded, and every other BatchNorm with why it may not.

    Attributes:
        pairs: (layer name, BatchNorm name), in the order the model registers the BNs.
        left: (BatchNorm name, reason).
        inputs: the layer's input in the pass that found the pair (hooks only), for the
            numerical check.
        output: the tensors the model returned in that pass (hooks only).
    """

    pairs: list[tuple[str, str]] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    output: list[torch.Tensor] | None = None


def out_features(layer: nn.Module) -> int:
    """Output channels (conv) or features (Linear): what the BatchNorm must normalise."""
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def mismatch(layer_name: str, layer: nn.Module, bn_name: str, bn: nn.Module) -> str | None:
    """Why `bn` cannot be folded into `layer` whatever the graph says, or None."""
    if bn.running_mean is None or bn.running_var is None:
        return "has no running statistics (track_running_stats=False)"
    if bn.num_features != out_features(layer):
        return (f"normalises {bn.num_features} channels but {layer_name} outputs "
                f"{out_features(layer)}")
    if not isinstance(layer._parameters.get("weight"), torch.Tensor):
        return f"{layer_name} has no plain weight parameter"
    return None


class _LeafTracer(fx.Tracer):
    """Conv/Linear/BN modules, subclasses included, are single graph nodes."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return (isinstance(module, QUANTIZABLE_TYPES + BN_TYPES)
                or super().is_leaf_module(module, qualified_name))


def _describe(node: object, modules: dict[str, nn.Module]) -> str:
    if not isinstance(node, fx.Node):
        return "a constant"
    if node.op == "call_module":
        return f"{node.target} ({type(modules[node.target]).__name__})"
    if node.op == "placeholder":
        return "the model input"
    target = getattr(node.target, "__name__", str(node.target))
    return f"operation {target}"


def by_graph(model: nn.Module) -> Candidates:
    """Candidates from an FX trace (raises whatever FX raises if it cannot trace)."""
    graph = _LeafTracer().trace(model)
    modules = dict(model.named_modules())
    calls: dict[str, list[fx.Node]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls.setdefault(node.target, []).append(node)
    found = Candidates()
    for bn_name, bn in modules.items():
        if not isinstance(bn, BN_TYPES):
            continue
        nodes = calls.get(bn_name, [])
        reason = _graph_reason(bn_name, bn, nodes, calls, modules)
        if reason is None:
            found.pairs.append((nodes[0].args[0].target, bn_name))
        else:
            found.left.append((bn_name, reason))
    return found


def _graph_reason(bn_name: str, bn: nn.Module, nodes: list[fx.Node],
                  calls: dict[str, list[fx.Node]], modules: dict[str, nn.Module]) -> str | None:
    if not nodes:
        return "never run by the forward pass"
    if len(nodes) > 1:
        return f"runs {len(nodes)} times per forward pass"
    source = nodes[0].args[0] if nodes[0].args else None
    if not (isinstance(source, fx.Node) and source.op == "call_module"
            and isinstance(modules[source.target], QUANTIZABLE_TYPES)):
        return f"follows {_describe(source, modules)}, not a conv/linear layer"
    layer_name = source.target
    if len(calls[layer_name]) > 1:
        return f"follows {layer_name}, which runs {len(calls[layer_name])} times per forward pass"
    if len(source.users) > 1:
        others = sorted(_describe(user, modules) for user in source.users if user is not nodes[0])
        return f"the output of {layer_name} is also read by {', '.join(others)}"
    return mismatch(layer_name, modules[layer_name], bn_name, bn)


def output_tensors(value: object) -> list[torch.Tensor]:
    """Every tensor in a (nested) model output, in a fixed order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for key in value for t in output_tensors(value[key])]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in output_tensors(item)]
    return []


def _reader_counts(outputs: list[torch.Tensor]) -> dict[object, int]:
    """For every autograd node reachable from `outputs`: how many edges point to it
    (how many operations read the tensor it produced). The nodes are alive (the graph
    is), so keying by them cannot alias."""
    counts: dict[object, int] = {}
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is None:
                continue
            counts[child] = counts.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return counts


@dataclass
class _Trace:
    """What one forward pass recorded, per module name."""

    layer_out: dict[str, list[tuple[torch.Tensor, int]]] = field(default_factory=dict)
    layer_in: dict[str, torch.Tensor] = field(default_factory=dict)
    bn_in: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    output: list[torch.Tensor] = field(default_factory=list)


def _run_recorded(model: nn.Module, layers: dict[str, nn.Module], bns: dict[str, nn.Module],
                  example: torch.Tensor) -> _Trace:
    trace = _Trace({name: [] for name in layers}, {}, {name: [] for name in bns})

    def on_layer_in(name: str, inputs: tuple) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor):
            trace.layer_in.setdefault(name, inputs[0].detach())

    def on_layer_out(name: str, output: object) -> None:
        if isinstance(output, torch.Tensor):
            trace.layer_out[name].append((output, output._version))

    def on_bn_in(name: str, inputs: tuple) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor):
            trace.bn_in[name].append(inputs[0])

    handles = [m.register_forward_pre_hook(lambda _, i, n=n: on_layer_in(n, i))
               for n, m in layers.items()]
    handles += [m.register_forward_hook(lambda _, i, o, n=n: on_layer_out(n, o))
                for n, m in layers.items()]
    handles += [m.register_forward_pre_hook(lambda _, i, n=n: on_bn_in(n, i))
                for n, m in bns.items()]
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:  # every op gets an autograd node: that is how readers are counted
            p.requires_grad_(True)
        with torch.enable_grad():
            x = example.detach().clone()
            if x.is_floating_point():
                x.requires_grad_(True)
            trace.output = output_tensors(model(x))
    finally:
        for handle in handles:
            handle.remove()
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
    return trace


def by_hooks(model: nn.Module, example: torch.Tensor) -> Candidates:
    """Candidates from one recorded forward pass over `example` (a batch of one)."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, QUANTIZABLE_TYPES)}
    bns = {n: m for n, m in model.named_modules() if isinstance(m, BN_TYPES)}
    trace = _run_recorded(model, layers, bns, example)
    readers = _reader_counts(trace.output)
    found = Candidates(inputs={}, output=[t.detach() for t in trace.output])
    for bn_name, bn in bns.items():
        reason, layer_name = _hook_reason(bn_name, trace, readers, layers)
        if reason is None:
            reason = mismatch(layer_name, layers[layer_name], bn_name, bn)
        if reason is None:
            found.pairs.append((layer_name, bn_name))
            found.inputs[layer_name] = trace.layer_in[layer_name]
        else:
            found.left.append((bn_name, reason))
    return found


def _hook_reason(bn_name: str, trace: _Trace, readers: dict[object, int],
                 layers: dict[str, nn.Module]) -> tuple[str | None, str]:
    """(why `bn_name` is not a candidate or None, the layer it follows or '')."""
    received = trace.bn_in[bn_name]
    if not received:
        return "never run by the forward pass", ""
    if len(received) > 1:
        return f"runs {len(received)} times per forward pass", ""
    tensor = received[0]
    for layer_name, outputs in trace.layer_out.items():
        for output, version in outputs:
            if output is not tensor:
                continue
            if len(outputs) > 1:
                return (f"follows {layer_name}, which runs {len(outputs)} times per forward "
                        "pass"), layer_name
            if tensor._version != version:
                return f"the output of {layer_name} is changed in place before it", layer_name
            if any(t is tensor for t in trace.output):
                return f"the output of {layer_name} is also returned by the model", layer_name
            count = readers.get(tensor.grad_fn, 0) if tensor.grad_fn is not None else 0
            if count == 0:
                return "its result does not reach the model's output", layer_name
            if count > 1:
                return f"the output of {layer_name} is also read by other operations", layer_name
            return None, layer_name
    return "does not read a conv/linear layer's output directly", ""
