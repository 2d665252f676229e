"""Named discovery budgets: how many generations and candidates a run asks for.

A run's budget decides what it can find: the demo's 3 x 6 is enough to see the loop
work, not to search. ``tap`` is sized like the TAP paper's runs (at most 5 generations;
here 5 x 10, so 50 LLM candidates after the seeds); ``long`` gives the LLM several times
that (12 x 16). Explicit ``--generations``, ``--population`` and ``--children`` override
the preset's. Measured wall times on 2 cores are in BENCHMARKS.md ("Discovery presets").
"""
from __future__ import annotations

from dataclasses import dataclass

from tapq.errors import TapqError

__all__ = ["PRESETS", "Preset", "preset"]


@dataclass(frozen=True)
class Preset:
    """A discovery budget: generations (the first included), population kept, and
    candidates asked per later generation."""

    name: str
    generations: int
    population: int
    children: int
    purpose: str

    @property
    def candidates(self) -> int:
        """LLM candidates the run asks for (seeds not counted)."""
        return self.population + (self.generations - 1) * self.children


PRESETS = {p.name: p for p in (
    Preset("demo", 3, 6, 6, "see the loop work (the demo's run)"),
    Preset("tap", 5, 10, 10, "a run sized like the TAP paper's (<= 5 generations)"),
    Preset("long", 12, 16, 16, "several times TAP's budget, for a real search"),
)}


def preset(name: str) -> Preset:
    """The preset called `name`, or a one-line TapqError listing them."""
    if name not in PRESETS:
        raise TapqError(f"unknown --preset {name!r}: choose from {', '.join(PRESETS)}")
    return PRESETS[name]
