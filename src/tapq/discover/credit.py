"""What the strategy controller learns from: each candidate's credit.

The controller used to compare raw fitness, where a failure loses to any valid answer:
it learned "produced runnable code", which favours copying the starting body, and a
repeated program was credited again each time. Simulated with identical strategies, its
top strategy still ended with about half of the probability (benchmarks/
controller_signal.py): it learned noise.

Credit here is *improvement*: how far a candidate's search fitness rises above what it
was given -- the better of its parents, or the best seed for a candidate written from a
hint alone -- and 0 for a failure, for no improvement, and for anything that is not a new
table (a verbatim repeat, or a copy of a seed or of an earlier candidate). A distinct
table is credited once, when it first appears. Most candidates of a small model earn 0,
so most strategy pairs tie and teach nothing; the policy moves only where a strategy
actually produced something better than its inputs.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from tapq.discover.store import CandidateRecord

__all__ = ["REWARDS", "credits", "improvement"]

REWARDS = ("improvement", "fitness")


def improvement(record: CandidateRecord, parents: list[CandidateRecord],
                best_seed: float) -> float:
    """`record`'s credit: max(0, fitness - reference) for a new valid table, else 0. The
    reference is its best valid parent's fitness, or `best_seed` when it has none (an
    init, or a repair of a failed candidate)."""
    if not record.novel:
        return 0.0
    finite = [p.fitness for p in parents if math.isfinite(p.fitness)]
    reference = max(finite) if finite else best_seed
    if not math.isfinite(reference):
        reference = 0.0
    return max(0.0, record.fitness - reference)


def credits(records: list[CandidateRecord], kind: str,
            parent: Callable[[int], CandidateRecord], best_seed: float
            ) -> list[tuple[str, float]]:
    """(strategy, credit) of each record of a generation, as the controller learns from.

    `kind` ``improvement`` (the default) credits improvement over the inputs; ``fitness``
    is the old signal (raw fitness, a failure -inf), kept for runs stored before."""
    if kind == "fitness":
        return [(r.strategy, r.fitness) for r in records]
    return [(r.strategy, improvement(r, [parent(i) for i in r.parents], best_seed))
            for r in records]
