"""Reading an LLM's answer into a candidate proxy: its thought and its code.

Small models rarely follow a format exactly (ENVIRONMENT.md: the 0.5B writer fills code
fences with prose, forgets imports, stops mid-block), so parsing is lenient about the
shape of the answer but strict about what counts as code: the result must parse as
Python and define ``sensitivity``. Everything else is the sandbox's job.
"""
from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass

# Imports every prompt pre-fills; prepended when an answer starts at the ``def`` line.
HEADER = "import math\nimport numpy as np\nimport torch\n"
_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(?:\n```|\Z)", re.S | re.I)
_THOUGHT = re.compile(r"^\s*(?:\*\*)?thought(?:\*\*)?\s*:\s*(.+)$", re.I | re.M)
MAX_THOUGHT = 600


@dataclass(frozen=True)
class ParsedAnswer:
    """An answer split into its rationale and its code (None with `error` when unusable)."""

    thought: str
    code: str | None
    error: str | None = None


def parse_answer(text: str) -> ParsedAnswer:
    """Extract the thought and the ``sensitivity`` code from an LLM answer.

    The code is the first fenced block that defines ``sensitivity`` (an unterminated block
    counts: generation may stop at the closing fence), or, without fences, everything from
    the first import/def line on. The thought is a ``Thought:`` line, else the docstring
    of ``sensitivity``, else the prose before the code.
    """
    blocks = [b for b in _FENCE.findall(text) if "def sensitivity" in b]
    if blocks:
        code, before = blocks[0], text[:text.find(blocks[0])]
    else:
        start = re.search(r"^(?:import |from |def sensitivity)", text, re.M)
        if start is None or "def sensitivity" not in text:
            return ParsedAnswer(_thought(text, text), None,
                                "the answer has no code defining sensitivity(layer, bits)")
        code, before = text[start.start():], text[:start.start()]
        code = code.split("\n```")[0]
    code = code.strip("\n") + "\n"
    if not re.search(r"^(?:import|from)\s", code, re.M):
        code = HEADER + "\n" + code
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        return ParsedAnswer(_thought(text, before), code,
                            f"SyntaxError: {error.msg} (line {error.lineno})")
    return ParsedAnswer(_thought(text, before, tree), code)


def _thought(text: str, before: str, tree: ast.Module | None = None) -> str:
    match = _THOUGHT.search(text)
    docstring = next((ast.get_docstring(node) for node in (tree.body if tree else [])
                      if isinstance(node, ast.FunctionDef) and node.name == "sensitivity"),
                     None)
    # What the model wrote, or nothing: a docstring copied from a prompt's placeholder
    # ("<your idea ...>") or prose that is only a fence ("```python") is no thought.
    placeholder = docstring is not None and docstring.strip().startswith("<")
    thought = (match.group(1) if match else docstring if docstring and not placeholder
               else re.sub(r"`+\w*", "", before))
    thought = " ".join(thought.split())[:MAX_THOUGHT]
    return thought if re.search(r"[A-Za-z]{2}", thought) else ""


def normalized_code(code: str) -> str:
    """The code with comments, docstrings and formatting removed (via the AST), so two
    answers that differ only cosmetically are recognised as one program."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "\n".join(line.rstrip() for line in code.strip().splitlines())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.unparse(tree)


def code_hash(code: str) -> str:
    """SHA-256 of the normalised code: the identity used to evaluate each program once."""
    return hashlib.sha256(normalized_code(code).encode()).hexdigest()
