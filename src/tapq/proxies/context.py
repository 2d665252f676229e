"""Network context of each quantizable layer: where it sits and what it feeds.

A layer's sensitivity depends on the network around it as much as on its own weights:
a last classifier, a layer whose output is rectified, one in a residual branch whose
error is diluted by the skip, or one holding most of the MACs behave differently. These
are cheap to read off the model (one traced or hooked pass), so they are always present.

``next_op`` is read from a torch.fx trace when the model traces (the first user of the
layer's output, looking through the Identity modules BatchNorm folding leaves); else from
one hooked forward pass (the next leaf module that reads the very output tensor); else
``unknown``.
"""
from __future__ import annotations

import operator

import torch
from torch import fx, nn

__all__ = ["network_context"]

_FUNCTIONS = {operator.add: "add", operator.iadd: "add", torch.add: "add",
              operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
              torch.cat: "cat", torch.flatten: "reshape"}
_METHODS = {"add": "add", "add_": "add", "mul": "mul", "mul_": "mul", "view": "reshape",
            "reshape": "reshape", "flatten": "reshape", "permute": "reshape",
            "transpose": "reshape", "mean": "pool", "sigmoid": "sigmoid", "relu": "relu",
            "softmax": "softmax"}


def _module_op(module: nn.Module) -> str:
    """A short name for a module kind: conv / depthwise / linear / pool / relu / ..."""
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        depthwise = module.groups > 1 and module.groups == module.in_channels
        return "depthwise" if depthwise else "conv"
    name = type(module).__name__.lower()
    if "pool" in name:
        return "pool"
    if name in ("flatten", "unflatten"):
        return "reshape"
    return name


def _function_op(target) -> str:
    if target in _FUNCTIONS:
        return _FUNCTIONS[target]
    name = getattr(target, "__name__", str(target)).lower().strip("_")
    return "pool" if "pool" in name else name


class _LayerTracer(fx.Tracer):
    """Traces through everything but the layers themselves (a conv subclass with its own
    forward, e.g. SAME padding that reads the input's size, stays one call)."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return (isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear))
                or super().is_leaf_module(module, qualified_name))


def _fx_next_ops(model: nn.Module, names: list[str]) -> dict[str, str] | None:
    try:
        graph = _LayerTracer().trace(model)
    except Exception:  # noqa: BLE001 -- data-dependent models do not trace: hooks instead
        return None
    modules = dict(model.named_modules())

    def first_user(node: fx.Node) -> str:
        for _ in range(64):  # through Identity modules (folded BatchNorm), boundedly
            users = list(node.users)
            if not users:
                return "output"
            user = users[0]
            if user.op == "call_module" and isinstance(modules.get(user.target), nn.Identity):
                node = user
                continue
            if user.op == "call_module":
                return _module_op(modules[user.target])
            if user.op == "call_function":
                return _function_op(user.target)
            if user.op == "call_method":
                return _METHODS.get(user.target, user.target)
            return "output"
        return "unknown"

    found = {node.target: first_user(node) for node in graph.nodes
             if node.op == "call_module" and node.target in names}
    return found if set(found) == set(names) else None


def _hooked_next_ops(model: nn.Module, names: list[str], example: torch.Tensor
                     ) -> dict[str, str]:
    """The next leaf module reading each layer's output tensor, from one forward pass."""
    order: list[tuple[str, nn.Module, tuple, object]] = []
    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]

    def hook(name):
        def record(module, args, output):
            order.append((name, module, args, output))
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in leaves]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    found = {}
    for k, (name, _, _, output) in enumerate(order):
        if name not in names or name in found:
            continue
        found[name] = "unknown"
        current = output
        for later_name, module, args, later_output in order[k + 1:]:
            if args and args[0] is current:
                if isinstance(module, nn.Identity):
                    current = later_output
                    continue
                found[name] = _module_op(module)
                break
    return {n: found.get(n, "unknown") for n in names}


def network_context(model: nn.Module, modules: list[nn.Module], names: list[str],
                    macs: list[int], example: torch.Tensor) -> list[dict]:
    """Per layer: depth (0 first .. 1 last), param_share and mac_share (of all quantizable
    layers), fan_in (weights per output value), fan_out (outputs each input value reaches:
    out_channels x kernel positions / groups), groups, next_op."""
    params = [m.weight.numel() for m in modules]
    total_params, total_macs = max(sum(params), 1), max(sum(macs), 1)
    next_ops = _fx_next_ops(model, names) or _hooked_next_ops(model, names, example)
    last = max(len(modules) - 1, 1)
    found = []
    for k, module in enumerate(modules):
        weight = module.weight
        receptive = weight[0, 0].numel() if weight.dim() > 2 else 1
        groups = getattr(module, "groups", 1)
        found.append({"depth": k / last, "param_share": params[k] / total_params,
                      "mac_share": macs[k] / total_macs, "fan_in": int(weight[0].numel()),
                      "fan_out": int(weight.shape[0] * receptive // groups), "groups": groups,
                      "next_op": next_ops[names[k]]})
    return found
