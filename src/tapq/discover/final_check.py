"""The final check of a run: its best novel proxy beside the human baselines.

On fitness (every baseline on the same benchmark, validation split included, which the
search never saw) and on what allocation buys: the best novel and the best human proxy
allocate at one budget on the benchmark's own model, with the benchmark's PTQ, measured
beside uniform precision and the benchmark oracle.
"""
from __future__ import annotations

from pathlib import Path

from tapq.allocate import Budget, Comparer, CompareRow
from tapq.device import DeviceLike
from tapq.proxies import (BASELINE_PROXIES, Fitness, StatsConfig, best_human,
                          evaluate_proxies)

__all__ = ["FALLBACK_HUMAN", "compare_at_budget", "fitness_check", "human_to_beat"]

# The baseline compared against when no baseline has a finite score on the benchmark.
FALLBACK_HUMAN = "hawq_v2"


def fitness_check(bench: str | Path, best_proxy: str | Path, device: DeviceLike = None,
                  stats: StatsConfig | None = None) -> list[Fitness]:
    """Fitness of the best novel proxy (first) and of every baseline on `bench`, on
    statistics computed with `stats` (the run's). A run writes best_proxy.py only for a
    novel candidate (never a copy of a seed)."""
    return evaluate_proxies(bench, [str(best_proxy), *BASELINE_PROXIES], device, stats)


def human_to_beat(final: list[Fitness]) -> str:
    """The name of the best baseline in a fitness check (search split)."""
    best = best_human(final[1:])
    return best.proxy if best is not None else FALLBACK_HUMAN


def compare_at_budget(bench: str | Path, proxies: list[str], budget: str = "avg-bits=3",
                      device: DeviceLike = None, stats: StatsConfig | None = None
                      ) -> list[CompareRow]:
    """The proxies' allocations at `budget` on the benchmark's own model, PTQ as the
    benchmark measured (on `device`, default CPU; statistics with `stats`), beside
    uniform precision and the benchmark oracle."""
    return Comparer.for_bench(bench, proxies, device=device,
                              stats_config=stats).at([Budget.parse(budget)])
