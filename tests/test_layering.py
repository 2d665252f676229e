"""The pipeline's import direction: a stage imports only the stages below it.

Every ``import tapq.X`` / ``from tapq.X import ...`` in the package -- lazy ones inside
functions included -- is checked against the stage order of docs/ARCHITECTURE.md. A
stage that needs something from a higher one is a sign that the thing belongs lower
(as the cache location, the augmentation and the rank correlation did).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tapq

PACKAGE = Path(tapq.__file__).parent
# Lowest first. A module may import its own unit and any unit of a lower stage.
STAGES = [
    {"errors", "device", "outputs", "progress", "user_code", "cache", "correlation",
     "intervals", "executors"},                           # utilities, below every stage
    {"data"},
    {"evaluate"},                            # accuracy of a model on a split
    {"models"},
    {"quant"},
    {"measure"},                             # PTQ + evaluation + cost of one configuration
    {"sandbox"},                             # runs untrusted proxy code; knows no proxy
    {"bench"},
    {"proxies"},
    {"allocate"},
    {"discover"},
    {"report"},
    {"demo"},
    {"cli"},
]
RANK = {unit: rank for rank, units in enumerate(STAGES) for unit in units}


def _unit(module: str) -> str:
    """The stage unit of a dotted module name: ``tapq.bench.store`` -> ``bench``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tapq"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every tapq import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module.startswith("tapq.") else []
            if node.module == "tapq":  # from tapq import data, ...
                names = [f"tapq.{alias.name}" for alias in node.names]
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names
                      if alias.name.startswith("tapq.")]
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or
                 p.parent != PACKAGE)


def test_every_unit_has_a_stage():
    units = {_unit(_module_name(p)) for p in SOURCES}
    assert units <= set(RANK), f"add {sorted(units - set(RANK))} to STAGES (and the docs)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_upward_import(path):
    unit = _unit(_module_name(path))
    upward = [f"line {line}: {name} ({_unit(name)} is above {unit})"
              for line, name in _imports(path)
              if _unit(name) in RANK and RANK[_unit(name)] > RANK[unit]]
    assert not upward, "; ".join(upward)


def test_no_import_cycle_between_units():
    """Same-rank units (the utilities, the CLI modules) may import each other, but not in
    a cycle."""
    edges: dict[str, set[str]] = {}
    for path in SOURCES:
        unit = _unit(_module_name(path))
        edges.setdefault(unit, set()).update(
            _unit(name) for _, name in _imports(path) if _unit(name) != unit)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(unit for unit in edges if reaches(unit, unit, {unit}))
    assert not cycles, f"units in an import cycle: {cycles}"
