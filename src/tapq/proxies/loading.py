"""Loading a proxy -- a built-in name or a ``.py`` file -- and computing its table.

Built-ins run in this process. A file is untrusted code (a discovered proxy is one), so it
is only read and parsed here; its table is computed in the sandbox (tapq.sandbox), the same
way for ``proxy eval``, allocation, discovery's final check and the report.
"""
from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tapq.errors import TapqError
from tapq.proxies.baselines import BASELINE_PROXIES, Proxy, proxy_table
from tapq.proxies.stats import LayerStats
from tapq.sandbox import sandboxed_proxy_table

__all__ = ["ProxyFile", "load_proxy", "table_of"]


@dataclass(frozen=True)
class ProxyFile:
    """A proxy read from a file: untrusted code whose table is computed in the sandbox."""

    path: Path
    code: str


def load_proxy(spec: str) -> tuple[str, Proxy | ProxyFile]:
    """(name, proxy) for a built-in proxy name or a ``FILE.py`` defining ``sensitivity``."""
    if spec in BASELINE_PROXIES:
        return spec, BASELINE_PROXIES[spec]
    path = Path(spec)
    if path.suffix != ".py":
        raise TapqError(f"unknown proxy {spec!r}; built-ins: {', '.join(BASELINE_PROXIES)}, "
                        "or a .py file defining sensitivity(layer, bits)")
    if not path.is_file():
        raise TapqError(f"proxy file not found: {path}")
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TapqError(f"cannot read proxy file {path}: {error}") from None
    # Parsing runs nothing, so a user's typo is caught here, in one line, before any
    # benchmark or sandbox work; the sandbox still screens and runs the code itself.
    try:
        tree = ast.parse(code, filename=str(path))
    except SyntaxError as error:
        where = f" at line {error.lineno}" if error.lineno else ""
        raise TapqError(f"proxy file {path} has a syntax error{where}: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, deep nesting
        raise TapqError(f"proxy file {path} is not Python source: "
                        f"{type(error).__name__}: {error}") from None
    # The sandbox's own rule (tapq.sandbox.screen._check_entry): a top-level def.
    if not any(isinstance(node, ast.FunctionDef) and node.name == "sensitivity"
               for node in tree.body):
        raise TapqError(f"proxy file {path} defines no function sensitivity(layer, bits)")
    return path.stem, ProxyFile(path, code)


def table_of(proxy: Proxy | ProxyFile, stats: list[LayerStats],
             bit_choices: Sequence[int]) -> np.ndarray:
    """T[layer, bit] of a proxy: in-process for a built-in, in the sandbox for a file.
    Raises ValueError/TapqError with the reason when the proxy fails."""
    if isinstance(proxy, ProxyFile):
        return sandboxed_proxy_table(proxy.code, stats, list(bit_choices))
    return proxy_table(stats, proxy, bit_choices)
