"""The sandbox's static screen: candidate code is checked on its AST before anything runs.

Refused: imports outside math / numpy / torch (and a few of their submodules, see
``ALLOWED_MODULES``); the builtins that do I/O, evaluate strings or introspect (``open``,
``exec``, ``eval``, ``getattr``, ``type`` ...); any name starting with ``__`` and any
attribute starting with ``_``, which closes the ``().__class__.__bases__`` family of
escapes; the attributes in ``DENIED_ATTRIBUTES`` (file I/O, pickles, code loading,
``torch.os`` and the other modules torch and numpy re-export, generator frames, string
formatting); classes, class patterns in ``match`` (``case C(attr=v)`` reads attributes
without an ``ast.Attribute``) and async code; code over ``MAX_CODE_CHARS``; and code without a
top-level ``def sensitivity(layer, bits)``.

The screen is the first of two layers: the worker enforces the same policy at run time
(safe builtins, guarded imports, read-only module views) and the process limits back it.
Reasons name the line, since they are shown to the LLM for repair.
"""
from __future__ import annotations

import ast

from tapq.sandbox.policy import ALLOWED_MODULES, CANDIDATE_FILE, attribute_allowed

__all__ = ["FORBIDDEN_NAMES", "MAX_CODE_CHARS", "screen"]

MAX_CODE_CHARS = 20_000
# Builtins refused by name (the worker's builtins lack them anyway; this is for the reason).
FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "hasattr", "input", "breakpoint", "type", "object", "super", "help", "exit",
    "quit", "memoryview", "dir", "id", "hash", "classmethod", "staticmethod", "property",
    "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit"})


def screen(code: str) -> str | None:
    """Static check of candidate code on its AST; the rejection reason, or None if it passes.

    The reason lists up to three problems, each with its line, first line first.
    """
    if len(code) > MAX_CODE_CHARS:
        return f"the code has {len(code)} characters; at most {MAX_CODE_CHARS} are allowed"
    try:
        tree = ast.parse(code, CANDIDATE_FILE)
    except SyntaxError as error:
        text = f": `{error.text.strip()[:120]}`" if error.text else ""
        where = f" at line {error.lineno}" if error.lineno else ""
        return f"SyntaxError{where}: {error.msg}{text}"
    except (ValueError, RecursionError, MemoryError) as error:
        return (f"the code cannot be parsed ({type(error).__name__}: "
                f"{str(error)[:200] or 'nested too deeply'})")
    bound = _bound_names(tree)
    problems = sorted({(getattr(node, "lineno", 0), problem) for node in ast.walk(tree)
                       for problem in _problems(node, bound)})
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return "; ".join(f"line {line}: {p}" for line, p in problems[:3]) + more
    return _check_entry(tree)


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the code binds itself (so `input = layer.act_in` is not a builtin call)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.partition(".")[0])
    return bound


def _problems(node: ast.AST, bound: set[str]) -> list[str]:
    found = [f"name {name!r} is not allowed" for name in _identifiers(node)
             if name.startswith("__")]
    if isinstance(node, ast.Import):
        found += [_import_problem(a.name) for a in node.names if a.name not in ALLOWED_MODULES]
    elif isinstance(node, ast.ImportFrom):
        if node.level or node.module not in ALLOWED_MODULES:
            found.append(_import_problem("." * node.level + (node.module or "")))
        else:
            found += [f"importing {a.name!r} from {node.module} is not allowed"
                      for a in node.names if a.name == "*" or not attribute_allowed(a.name)]
    elif isinstance(node, ast.Attribute) and not attribute_allowed(node.attr):
        kind = "private and dunder attributes" if node.attr.startswith("_") else \
            "file, pickle, process, code-loading and introspection APIs"
        found.append(f"attribute .{node.attr} is not allowed ({kind} are blocked)")
    elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES and node.id not in bound:
        found.append(f"{node.id!r} is not available to a proxy (no I/O, eval or introspection)")
    elif isinstance(node, ast.ClassDef):
        found.append("class definitions are not allowed; write plain functions")
    elif isinstance(node, ast.MatchClass):
        # `case C(attr=v)` reads attributes (dunders included) with no ast.Attribute node,
        # and `case C(v)` reads the ones C.__match_args__ names.
        found.append("class patterns (`case C(...)`) are not allowed: they read attributes "
                     "unchecked; use isinstance() and plain attribute access")
    elif isinstance(node, (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)):
        found.append("async code is not allowed")
    return found


def _identifiers(node: ast.AST) -> list[str]:
    """The names a node binds or reads (variables, parameters, functions, aliases, patterns)."""
    names = [getattr(node, f) for f in ("id", "arg", "name", "asname", "rest")
             if isinstance(getattr(node, f, None), str)]
    return names + (node.names if isinstance(node, (ast.Global, ast.Nonlocal)) else [])


def _import_problem(name: str) -> str:
    if name.partition(".")[0] in ("math", "numpy", "torch"):
        submodules = ", ".join(sorted(m for m in ALLOWED_MODULES if "." in m))
        return f"import of {name!r} is not allowed (allowed submodules: {submodules})"
    return f"import of {name!r} is not allowed (a proxy may import only math, numpy and torch)"


def _check_entry(tree: ast.Module) -> str | None:
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "sensitivity"]
    if not defs:
        return "the code must define a top-level function sensitivity(layer, bits)"
    args = defs[-1].args
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    kw_required = sum(d is None for d in args.kw_defaults)
    if required > 2 or kw_required or (positional < 2 and args.vararg is None):
        return (f"line {defs[-1].lineno}: sensitivity must take two arguments (layer, bits); "
                f"it has {positional} positional parameter(s)"
                + (f" and {kw_required} required keyword-only" if kw_required else ""))
    return None
