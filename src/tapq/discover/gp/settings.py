"""Settings of the symbolic (genetic-programming) search, beside the LLM's.

Every field that changes what a run draws is part of the resume key (``resume=`` in its
metadata, collected by DiscoverConfig.resume_key for ``--search gp`` runs only); the wall
time budget is not: a run may be resumed with more (or less) time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GPConfig"]


@dataclass(frozen=True)
class GPConfig:
    """Attributes:
        tournament: individuals per tournament (selection pressure).
        crossover_rate: share of children made by subtree crossover; the rest mutate
            (half subtree mutation, half point mutation).
        init_depth: greatest depth of the initial trees (ramped half-and-half from 2).
        max_depth: greatest depth a child may reach (deeper children are drawn again).
        max_nodes: greatest size a child may reach.
        max_seconds: stop starting generations once the run's wall time passes this
            (None: no limit); how a GP search is given an LLM run's wall time.
    """

    tournament: int = field(default=3, metadata={"resume": "gp_tournament"})
    crossover_rate: float = field(default=0.5, metadata={"resume": "gp_crossover_rate"})
    init_depth: int = field(default=4, metadata={"resume": "gp_init_depth"})
    max_depth: int = field(default=7, metadata={"resume": "gp_max_depth"})
    max_nodes: int = field(default=40, metadata={"resume": "gp_max_nodes"})
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.tournament < 1 or not 0 <= self.crossover_rate <= 1:
            raise ValueError("gp settings: tournament must be at least 1 and crossover "
                             "rate within [0, 1]")
        if not 2 <= self.init_depth <= self.max_depth or self.max_nodes < 3:
            raise ValueError("gp settings: need 2 <= init depth <= max depth and "
                             "max nodes >= 3")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError("gp settings: max seconds must be positive")
