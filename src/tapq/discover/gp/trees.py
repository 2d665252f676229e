"""Expression trees: their shape kinds, text form, random growth and variation.

A tree is an immutable `Node` (a primitive's name and its children). Its text form is an
s-expression, ``(sum (mul fisher (square err)))``, stored with every GP candidate so a
resumed run rebuilds its parents exactly. Growth is typed (primitives.py): a node is only
ever given children whose shapes its primitive accepts, so every tree renders to a program
that runs. Variation is Koza's: subtree crossover between nodes of the same kind, subtree
mutation (a fresh random subtree of the same kind), and point mutation (one primitive
swapped for another of the same signature). Every draw comes from the numpy Generator
passed in, so a seed fixes the search.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tapq.discover.gp.primitives import (
    BINARY,
    CONSTANTS,
    REDUCTIONS,
    SCALAR,
    TENSOR_KINDS,
    TERMINALS,
    UNARY,
    binary_kind,
)

__all__ = ["Node", "crossover", "depth", "initial_tree", "kind_of", "parse", "point_mutation",
           "random_tree", "size", "subtree_mutation", "usable", "valid_shape"]

# Draw weights of the node types a function node may take (grow and full alike).
_SCALAR_CHOICES = (("unary", 0.2), ("binary", 0.4), ("reduce", 0.4))
_TENSOR_CHOICES = (("unary", 0.3), ("binary", 0.4), ("broadcast", 0.3))
_GROW_LEAF = 0.3       # chance a grow node below the root is a leaf
_INTERNAL_PICK = 0.9   # Koza: crossover points are internal nodes 90% of the time
_TRIES = 100


@dataclass(frozen=True)
class Node:
    """A primitive (terminal, constant, unary, binary or reduction) and its children."""

    name: str
    children: tuple[Node, ...] = ()

    def __str__(self) -> str:
        if not self.children:
            return self.name
        return f"({self.name} {' '.join(map(str, self.children))})"


def kind_of(node: Node) -> str:
    """The shape kind of `node`'s value (ValueError if its children cannot meet)."""
    if not node.children:
        if node.name in TERMINALS:
            return TERMINALS[node.name].kind
        if node.name in CONSTANTS:
            return SCALAR
        raise ValueError(f"unknown leaf {node.name!r}")
    kinds = [kind_of(c) for c in node.children]
    if node.name in UNARY and len(kinds) == 1:
        return kinds[0]
    if node.name in REDUCTIONS and len(kinds) == 1 and kinds[0] != SCALAR:
        return SCALAR
    if node.name in BINARY and len(kinds) == 2:
        kind = binary_kind(*kinds)
        if kind is not None:
            return kind
    raise ValueError(f"({node.name} ...) cannot take arguments of kinds {kinds}")


def valid_shape(node: Node) -> bool:
    """Whether `node` is a well-typed scalar expression."""
    try:
        return kind_of(node) == SCALAR
    except ValueError:
        return False


def nodes(node: Node, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Node]]:
    """Every (path, subtree) of `node`, root first (depth-first, left to right)."""
    yield path, node
    for i, child in enumerate(node.children):
        yield from nodes(child, (*path, i))


def depth(node: Node) -> int:
    return 1 + max((depth(c) for c in node.children), default=0)


def size(node: Node) -> int:
    return sum(1 for _ in nodes(node))


def usable(node: Node) -> bool:
    """Whether `node` reads both a bit-dependent terminal and a statistic of the layer:
    without the first its table ignores bits (an invalid proxy), without the second every
    layer scores alike (no allocation can follow from it)."""
    leaves = [TERMINALS[n.name] for _, n in nodes(node) if n.name in TERMINALS]
    return any(t.uses_bits for t in leaves) and any(t.reads_layer for t in leaves)


def replace(node: Node, path: tuple[int, ...], new: Node) -> Node:
    """`node` with the subtree at `path` replaced by `new`."""
    if not path:
        return new
    children = list(node.children)
    children[path[0]] = replace(children[path[0]], path[1:], new)
    return Node(node.name, tuple(children))


# ------------------------------------------------------------------------- text form
def parse(text: str) -> Node:
    """The tree of an s-expression written by ``str(node)`` (ValueError if malformed)."""
    tokens = text.replace("(", " ( ").replace(")", " ) ").split()
    tree, end = _parse(tokens, 0)
    if end != len(tokens):
        raise ValueError(f"trailing text in expression {text!r}")
    kind_of(tree)
    return tree


def _parse(tokens: list[str], i: int) -> tuple[Node, int]:
    if i >= len(tokens) or tokens[i] == ")":
        raise ValueError("unbalanced expression")
    if tokens[i] != "(":
        return Node(tokens[i]), i + 1
    name, i = tokens[i + 1], i + 2
    children = []
    while i < len(tokens) and tokens[i] != ")":
        child, i = _parse(tokens, i)
        children.append(child)
    if i >= len(tokens):
        raise ValueError("unbalanced expression")
    return Node(name, tuple(children)), i + 1


# ------------------------------------------------------------------------- growth
def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def random_leaf(rng: np.random.Generator, kind: str) -> Node:
    """A terminal of `kind` (scalars: a statistic, bits or a constant)."""
    names = [n for n, t in TERMINALS.items() if t.kind == kind]
    if kind == SCALAR and rng.random() < 0.25:
        names = list(CONSTANTS)
    return Node(_pick(rng, names))


def random_tree(rng: np.random.Generator, kind: str, max_depth: int, full: bool,
                root: bool = False) -> Node:
    """A random tree of `kind` at most `max_depth` deep: ``full`` puts every leaf at that
    depth, otherwise (grow) leaves may come earlier (never at the `root`)."""
    if max_depth <= 1 or (not full and not root and rng.random() < _GROW_LEAF):
        return random_leaf(rng, kind)
    choices = _SCALAR_CHOICES if kind == SCALAR else _TENSOR_CHOICES
    weights = np.array([w for _, w in choices])
    shape = choices[int(rng.choice(len(choices), p=weights / weights.sum()))][0]
    below = max_depth - 1
    if shape == "unary":
        return Node(_pick(rng, list(UNARY)), (random_tree(rng, kind, below, full),))
    if shape == "reduce":
        tensor = _pick(rng, list(TENSOR_KINDS))
        return Node(_pick(rng, list(REDUCTIONS)), (random_tree(rng, tensor, below, full),))
    if shape == "broadcast":  # a tensor with a scalar, either side
        sides = [kind, SCALAR] if rng.random() < 0.5 else [SCALAR, kind]
    else:
        sides = [kind, kind]
    return Node(_pick(rng, list(BINARY)),
                tuple(random_tree(rng, side, below, full) for side in sides))


def initial_tree(rng: np.random.Generator, slot: int, max_depth: int) -> Node:
    """Ramped half-and-half: depth limits 2..max_depth in turn, full and grow alternating;
    drawn again until the expression is `usable`."""
    limits = range(2, max_depth + 1)
    limit, full = limits[slot % len(limits)], (slot // len(limits)) % 2 == 0
    for _ in range(_TRIES):
        tree = random_tree(rng, SCALAR, limit, full, root=True)
        if usable(tree):
            return tree
    return Node("sum", (Node("mul", (Node("fisher"), Node("square", (Node("err"),)))),))


# ------------------------------------------------------------------------- variation
def _point(rng: np.random.Generator, candidates: list[tuple[tuple[int, ...], Node]]
           ) -> tuple[tuple[int, ...], Node]:
    internal = [c for c in candidates if c[1].children]
    leaves = [c for c in candidates if not c[1].children]
    pool = internal if internal and (not leaves or rng.random() < _INTERNAL_PICK) else leaves
    return _pick(rng, pool)


def crossover(rng: np.random.Generator, mother: Node, father: Node) -> Node:
    """`mother` with one subtree replaced by a subtree of `father` of the same kind."""
    path, mine = _point(rng, list(nodes(mother)))
    kind = kind_of(mine)
    donors = [(p, n) for p, n in nodes(father) if kind_of(n) == kind]
    if not donors:
        return mother
    return replace(mother, path, _point(rng, donors)[1])


def subtree_mutation(rng: np.random.Generator, tree: Node, depth_limit: int = 3) -> Node:
    """`tree` with one subtree replaced by a fresh random one of the same kind."""
    path, old = _pick(rng, list(nodes(tree)))
    return replace(tree, path, random_tree(rng, kind_of(old), depth_limit, full=False))


def point_mutation(rng: np.random.Generator, tree: Node) -> Node:
    """`tree` with one primitive swapped for another of the same signature."""
    path, old = _pick(rng, list(nodes(tree)))
    if not old.children:
        new = random_leaf(rng, kind_of(old))
        return replace(tree, path, new)
    for table in (UNARY, BINARY, REDUCTIONS):
        if old.name in table:
            return replace(tree, path, Node(_pick(rng, list(table)), old.children))
    raise ValueError(f"unknown primitive {old.name!r}")
