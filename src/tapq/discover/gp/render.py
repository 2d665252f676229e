"""A GP expression as a proxy program: the same file an LLM answer becomes.

Rendering to source (rather than evaluating trees in-process) is what makes the symbolic
baseline a fair one: its candidates pass the same static screen, run in the same sandbox
under the same limits, and are scored by the same split-based fitness as the LLM's. The
program reads each statistic it uses once, in float64, and returns one float.
"""
from __future__ import annotations

from tapq.discover.gp.primitives import BINARY, HELPERS, REDUCTIONS, TERMINALS, UNARY
from tapq.discover.gp.trees import Node, nodes

__all__ = ["expression_code", "program"]

HEADER = "import math\nimport numpy as np\nimport torch\n"
# A terminal is read into a local of its own name, except ``bits``, which must not rebind
# the argument that the other statistics are computed from.
_VARIABLE = {"bits": "bits_s"}


def _variable(name: str) -> str:
    return _VARIABLE.get(name, name)


def expression_code(node: Node) -> str:
    """The Python expression computing `node` (terminals by their variable names)."""
    if not node.children:
        return _variable(node.name) if node.name in TERMINALS else f"scalar({node.name})"
    args = [expression_code(c) for c in node.children]
    for table in (UNARY, BINARY, REDUCTIONS):
        if node.name in table:
            return table[node.name].format(*args)
    raise ValueError(f"unknown primitive {node.name!r}")


def program(tree: Node) -> str:
    """A complete proxy file defining ``sensitivity(layer, bits)`` for `tree`."""
    used = sorted({n.name for _, n in nodes(tree) if n.name in TERMINALS},
                  key=list(TERMINALS).index)
    reads = "".join(f"    {_variable(name)} = {TERMINALS[name].code}\n" for name in used)
    return (f"{HEADER}\n{HELPERS}\n\n"
            "def sensitivity(layer, bits):\n"
            f'    """GP expression: {tree}"""\n'
            f"{reads}"
            f"    return float({expression_code(tree)})\n")
