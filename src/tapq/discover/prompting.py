"""Prompts: the text files in ``prompts/`` turned into chat messages for one strategy.

A *strategy* is an operator (init, mutate, crossover) and a hint (one idea from
``prompts/hints.txt``). The DPO controller learns which strategies pay off; this module
only renders them. Prompts live in text files so they can be read and changed without
touching code, in two styles:

- ``teach`` (``prompts/teach/``, the default): FunSearch-style. Every prompt shows the
  standing (the best programs so far with their scores) and the score to beat (the best
  human proxy); a mutation also shows where its parent is wrong (diagnosis.py); an init
  shows its hint's starting body as already scored, so that sending it back is plainly
  worth nothing. One answer format, one thought line then the code, no placeholder a
  model could copy.
- ``plain`` (``prompts/plain/``): the parent and its score only, exactly as runs were
  asked before; stored runs without a style resume and replay with it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

import torch

from tapq.discover.candidate import HEADER
from tapq.discover.strategies import OPERATORS, Strategy
from tapq.proxies import LayerStats

# The answer may stop at a fence followed by a blank line: that closes the only code block
# we want, and what follows is commentary (ENVIRONMENT.md: stopping at the closing fence
# saved ~25% of the tokens). A bare "\n```\n" would also match an *opening* fence
# written without a language tag, and cut the answer before its code.
STOP = ["\n```\n\n"]


@dataclass(frozen=True)
class Parent:
    """What a prompt shows of a parent candidate (`diagnosis`: teach style only)."""

    thought: str
    code: str
    fitness: float
    error: str | None = None
    diagnosis: str = ""


@dataclass(frozen=True)
class Lesson:
    """What a teaching prompt adds: the standing, the score to beat, and for an init the
    score its hint's starting body already has."""

    standing: str
    target: str
    seed_score: str = "not scored"


@dataclass(frozen=True)
class TaskContext:
    """Facts about the benchmark every prompt states (so the model never guesses shapes)."""

    bit_choices: list[int]
    num_layers: int
    example: str
    ceiling: float
    fields: str = ""  # the richer statistics these layers hold (teaching prompts only)


@cache
def _text(name: str) -> str:
    folder = resources.files("tapq.discover").joinpath("prompts")
    for part in name.split("/"):
        folder = folder.joinpath(part)
    return folder.read_text()


@dataclass(frozen=True)
class Hint:
    """An idea for a proxy: what to try, and a starting-point function body."""

    text: str
    body: str


@cache
def load_hints() -> dict[str, Hint]:
    """Hint name -> Hint, in file order (indented lines are the starting-point body)."""
    texts: dict[str, list[str]] = {}
    bodies: dict[str, list[str]] = {}
    name = None
    for line in _text("hints.txt").splitlines():
        if line.startswith("## "):
            name = line[3:].strip()
            texts[name], bodies[name] = [], []
        elif name and line.startswith("    "):
            bodies[name].append(line)
        elif name and line.strip() and not line.startswith("#"):
            texts[name].append(line.strip())
    return {n: Hint(" ".join(texts[n]), "\n".join(bodies[n])) for n in texts}


def all_strategies() -> list[Strategy]:
    """Every operator x hint, in a fixed order (the controller's action space)."""
    return [Strategy(op, hint) for op in OPERATORS for hint in load_hints()]


def describe_layer(layer: LayerStats) -> str:
    """One line with a real layer's field shapes, so the model sees concrete sizes."""
    return (f"layer.name={layer.name!r}, kind={layer.kind!r}, index={layer.index}, "
            f"num_params={layer.num_params}, weight shape {tuple(layer.weight.shape)}, "
            f"act_in shape {tuple(layer.act_in.shape)}, act_out shape "
            f"{tuple(layer.act_out.shape)}, hessian_trace={layer.hessian_trace:.4g}")


def task_context(stats: list[LayerStats], bit_choices: list[int], ceiling: float) -> TaskContext:
    """The context for a benchmark's layers: an example taken from a middle conv layer."""
    example = next((s for s in stats[len(stats) // 2:] if s.kind == "conv"), stats[0])
    return TaskContext(list(bit_choices), len(stats), describe_layer(example), ceiling,
                       richer_fields(stats, bit_choices))


def _held(stats: list[LayerStats], bit_choices: list[int]) -> set[str]:
    """Which of the richer statistics every layer holds (offered only then: a proxy
    reading one that was not computed would fail on every layer)."""
    held = {"context"}
    if all(len(s.patches) for s in stats):
        held.add("patches")
    if all(bool(torch.isfinite(s.in_min).all()) and len(s.in_min) for s in stats):
        held.add("act_range")
    if all(s.ptq != "none" and all(b in s.ptq_weights for b in bit_choices if b < 32)
           for s in stats):
        held.add("ptq")
    if all(all(b in s.delta_loss for b in bit_choices) for s in stats):
        held.add("delta_loss")
    return held


def richer_fields(stats: list[LayerStats], bit_choices: list[int]) -> str:
    """The contract's lines for the richer statistics these layers hold (prompts/teach/
    fields.txt, one tagged line per statistic), with the benchmark's PTQ method and
    delta_loss's background bit-width filled in."""
    if not stats:
        return ""
    held = _held(stats, bit_choices)
    lines = [line.split("]", 1)[1] for line in _text("teach/fields.txt").splitlines()
             if line.startswith("[") and line[1:line.index("]")] in held]
    return Template("\n".join(lines)).substitute(ptq=stats[0].ptq,
                                                 background=stats[0].background_bits)


def _fmt(value: float) -> str:
    return "failed" if not math.isfinite(value) else f"{value:.3f}"


def build_messages(strategy: Strategy, parents: list[Parent], context: TaskContext,
                   style: str = "plain", lesson: Lesson | None = None) -> list[dict]:
    """Chat messages asking for one new proxy with `strategy` from `parents`, in prompt
    `style` (``plain`` or ``teach``; a teaching prompt needs its `lesson`)."""
    contract = Template(_text("contract.txt")).substitute(
        bit_choices=", ".join(map(str, context.bit_choices)),
        last_index=context.num_layers - 1, example=context.example)
    if style == "teach" and context.fields:  # plain prompts stay the old ones
        head, example = contract.rsplit("\nExample from this network:", 1)
        contract = f"{head}\n{context.fields}\nExample from this network:{example}"
    hint = load_hints()[strategy.hint]
    fields = {"contract": contract.strip(), "hint": hint.text, "start": hint.body,
              "answer_format": _text(f"{style}/answer_format.txt").strip(),
              "ceiling": f"{context.ceiling:.2f}"}
    if style == "teach":
        if lesson is None:
            raise ValueError("a teaching prompt needs its lesson")
        fields.update(standing=lesson.standing, target=lesson.target,
                      seed_score=lesson.seed_score,
                      start=f"{HEADER}\ndef sensitivity(layer, bits):\n{hint.body}")
    if strategy.operator == "mutate":
        (parent,) = parents
        error = (f"It failed with this error; fix it:\n{parent.error}\n" if parent.error
                 else "")
        diagnosis = f"{parent.diagnosis}\n" if parent.diagnosis else ""
        thought = parent.thought or ("(none given)" if style == "teach" else "")
        fields.update(thought=thought, code=parent.code.strip(),
                      fitness=_fmt(parent.fitness), error=error, diagnosis=diagnosis)
    elif strategy.operator == "crossover":
        a, b = parents
        fields.update(thought_a=a.thought, code_a=a.code.strip(), fitness_a=_fmt(a.fitness),
                      thought_b=b.thought, code_b=b.code.strip(), fitness_b=_fmt(b.fitness))
    user = Template(_text(f"{style}/{strategy.operator}.txt")).substitute(fields)
    return [{"role": "system", "content": _text(f"{style}/system.txt").strip()},
            {"role": "user", "content": user.strip()}]
