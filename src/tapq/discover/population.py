"""The population: which candidates survive and which become parents.

Survival keeps the best N valid, distinct programs (ties go to the younger, so a
re-discovered equal idea refreshes the population rather than freezing it). Parent
selection is by rank with a soft preference for the fit: the best is likelier, but every
member keeps a real chance, which is what keeps the search from collapsing onto one idea
when a small model mostly copies its parent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Member:
    """What selection needs to know about a stored candidate."""

    id: int
    fitness: float
    generation: int
    code_hash: str
    slot: int = 0

    def rank_key(self) -> tuple[float, int, int]:
        """Fitter first; among equals the younger (later generation, later slot). Slots,
        not ids: candidates evaluated in parallel are stored in completion order."""
        return self.fitness, self.generation, self.slot


def survivors(members: list[Member], size: int) -> list[Member]:
    """The best `size` valid members with distinct code, fittest first, ties to the younger."""
    best: dict[str, Member] = {}
    for m in members:
        if not math.isfinite(m.fitness):
            continue
        kept = best.get(m.code_hash)
        if kept is None or m.rank_key() > kept.rank_key():
            best[m.code_hash] = m
    ranked = sorted(best.values(), key=Member.rank_key, reverse=True)
    return ranked[:size]


def select_parents(population: list[Member], count: int, rng: np.random.Generator,
                   pressure: float = 2.0) -> list[Member]:
    """`count` distinct parents drawn with probability proportional to exp(-rank / T),
    T = len(population) / pressure; fewer if the population is smaller."""
    ranked = sorted(population, key=Member.rank_key, reverse=True)
    if not ranked:
        return []
    weights = np.exp(-np.arange(len(ranked)) * pressure / len(ranked))
    picks = rng.choice(len(ranked), size=min(count, len(ranked)), replace=False,
                       p=weights / weights.sum())
    return [ranked[i] for i in picks]
