"""The primitive set: what a GP expression may read about a layer and how it may combine it.

The terminals are the LayerStats fields the LLM's prompt describes (contract.txt), so the
symbolic search sees exactly what the LLM sees, in the same numbers: the weight and its
quantized copy and error at ``bits``, gradient, Fisher, SynFlow, the input and output
activation samples, the Hessian scalars, sizes, and ``bits`` itself. Following EMQ
(Dong et al., 2023), expressions are typed by *shape*: weight-shaped tensors (W), the
input-activation rows (I), the output-activation rows (O) and scalars (S). Element-wise
operations combine equal shapes or a shape with a scalar (broadcast); reductions turn any
tensor into a scalar; the whole expression is a scalar. Shapes that cannot meet (a conv
weight and its activation rows, ENVIRONMENT.md's most common LLM error) never do.

Operations are *protected* (log and sqrt of |x|, a division that never divides by zero),
so a random expression fails only where the numbers overflow. Each primitive carries the
Python it renders to (render.py); everything is computed in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BINARY",
    "CONSTANTS",
    "KINDS",
    "REDUCTIONS",
    "SCALAR",
    "TENSOR_KINDS",
    "TERMINALS",
    "UNARY",
    "Terminal",
    "binary_kind",
]

SCALAR = "S"
TENSOR_KINDS = ("W", "I", "O")
KINDS = (*TENSOR_KINDS, SCALAR)


@dataclass(frozen=True)
class Terminal:
    """A leaf: its shape kind, the Python computing it, whether it changes with bits and
    whether it reads the layer."""

    kind: str
    code: str
    uses_bits: bool = False
    reads_layer: bool = True


TERMINALS: dict[str, Terminal] = {
    "weight": Terminal("W", "layer.weight.double()"),
    "quant": Terminal("W", "layer.quant(bits).double()", True),
    "err": Terminal("W", "(layer.weight - layer.quant(bits)).double()", True),
    "grad": Terminal("W", "layer.grad.double()"),
    "fisher": Terminal("W", "layer.fisher.double()"),
    "synflow": Terminal("W", "layer.synflow.double()"),
    "act_in": Terminal("I", "layer.act_in.double()"),
    "act_out": Terminal("O", "layer.act_out.double()"),
    "bits": Terminal(SCALAR, "scalar(bits)", True, False),
    "step": Terminal(SCALAR, "scalar(2.0 ** -bits)", True, False),  # the grid step falls 2x per bit
    "hessian_trace": Terminal(SCALAR, "scalar(layer.hessian_trace)"),
    "hessian_trace_avg": Terminal(SCALAR, "scalar(layer.hessian_trace_avg)"),
    "hessian_eig": Terminal(SCALAR, "scalar(layer.hessian_eig)"),
    "num_params": Terminal(SCALAR, "scalar(layer.num_params)"),
    "macs": Terminal(SCALAR, "scalar(layer.macs)"),
}
# Constants are leaves too, written as numbers ("0.5"); a fixed set keeps programs
# readable and lets identical expressions be recognised as one program.
CONSTANTS = ("0.5", "1", "2", "4")

# name -> Python template; the argument(s) fill the braces.
UNARY = {"abs": "torch.abs({})", "square": "torch.square({})", "sqrt": "psqrt({})",
         "log": "plog({})", "neg": "(-{})"}
BINARY = {"add": "({} + {})", "sub": "({} - {})", "mul": "({} * {})", "div": "pdiv({}, {})"}
REDUCTIONS = {"sum": "torch.sum({})", "mean": "torch.mean({})", "max": "torch.max({})",
              "std": "torch.std({})", "norm": "norm2({})"}

# The helpers the templates call, defined once at the top of every rendered program.
HELPERS = '''EPS = 1e-30


def scalar(value):
    return torch.tensor(float(value), dtype=torch.float64)


def psqrt(x):
    return torch.sqrt(torch.abs(x))


def plog(x):
    return torch.log(torch.abs(x) + EPS)


def pdiv(a, b):
    return a * b / (b * b + EPS)


def norm2(x):
    return torch.sqrt(torch.sum(x * x))
'''


def binary_kind(left: str, right: str) -> str | None:
    """The kind of an element-wise binary result, or None if the shapes cannot meet."""
    if left == right:
        return left
    if SCALAR in (left, right):
        return left if right == SCALAR else right
    return None
