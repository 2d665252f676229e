"""Importing a user's callable from a ``package.module:name`` or ``path/to/file.py:name`` spec.

Models (``--model``) and data (``--data``) name user code the same way, so both go through
`import_callable`: one set of rules and one set of one-line error messages.
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

from tapq.errors import TapqError

__all__ = ["import_callable", "one_line"]


def import_callable(spec: str, kind: str) -> Callable:
    """The callable that `spec` (``module:name`` or ``file.py:name``) names.

    `kind` ("model", "data") says in messages which spec was wrong. Importing runs the
    user's module: any exception it raises is their input, not a tapq bug, so it becomes
    one TapqError line (with the failing line for a syntax error).
    """
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise TapqError(f"{kind} spec {spec!r} names no module or no factory: use "
                        "'package.module:factory' or 'path/to/file.py:factory'")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise TapqError(f"{kind} file not found: {path}")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
            module_spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(module_name)
    except TapqError:
        raise
    except Exception as error:
        raise TapqError(f"cannot import {module_name!r} for {kind} spec {spec!r}: "
                        f"{one_line(error)}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise TapqError(f"{module_name!r} has no callable {attr!r} ({kind} spec {spec!r})")
    return factory


def one_line(error: BaseException) -> str:
    """``Type: message`` of an exception on one line (a SyntaxError keeps its line number)."""
    if isinstance(error, SyntaxError):
        where = f"{Path(error.filename or '?').name}, line {error.lineno}"
        return f"SyntaxError: {error.msg} ({where})"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:300]
