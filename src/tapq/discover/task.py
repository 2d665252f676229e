"""What every candidate of a run is judged on: the benchmarks, the sandbox jobs, the prompt facts.

The benchmark's split is read here and nowhere else in discovery (`search_rows`): fitness,
the implied costs a diagnosis is fitted on, and the seeds all use the rows selection may
see, so a change of the benchmark's split API touches this one place. A run may search
several benchmarks (benches.py): each is scored on its own, then combined by the run's
fitness rule; prompts describe and diagnose the first one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tapq.bench import BenchData
from tapq.discover.benches import BenchJobs, BenchTask, combined_metrics
from tapq.discover.prompting import TaskContext
from tapq.proxies import config_scores, fitness, iso_undefined

__all__ = ["SearchTask", "search_rows"]


def search_rows(data: BenchData) -> np.ndarray:
    """Boolean mask of the configurations selection may see (the search split)."""
    return data.in_split("search")


@dataclass(frozen=True)
class SearchTask:
    """What every candidate is judged on: each benchmark's search and select
    configurations (never its test split) and statistics, the sandbox job that computes a
    program's table on all of them, the rule that combines them, and the facts every
    prompt states (of the first benchmark)."""

    benches: tuple[BenchTask, ...]
    context: TaskContext
    rule: str = "mean"

    @property
    def data(self) -> BenchData:
        """The first benchmark's data: what prompts describe and diagnoses are fitted on."""
        return self.benches[0].data

    @property
    def job(self) -> BenchJobs:
        """`job(code)`: the program's sandbox results on every benchmark, in order."""
        return BenchJobs(tuple(b.job for b in self.benches))

    @property
    def labels(self) -> list[str]:
        return [b.label for b in self.benches]

    def bench_fitness(self, bench: BenchTask, table: np.ndarray) -> dict:
        """Every fitness figure of a table on one benchmark (``--json`` form)."""
        scores = config_scores(table, bench.data.bit_choices, bench.data.bits)
        return fitness("candidate", scores, bench.data, 0.0).to_json()

    def fitness_of(self, tables: list[np.ndarray]) -> tuple[dict, dict[str, dict]]:
        """The combined figures of a program's tables (one per benchmark), and each
        benchmark's own figures by label."""
        per_bench = {b.label: self.bench_fitness(b, t) for b, t in zip(self.benches, tables)}
        return combined_metrics(list(per_bench.values()), self.rule), per_bench

    def undefined_reason(self, bench: BenchTask | None = None) -> str:
        """Why a table's fitness came out undefined (for the record's error)."""
        bench = bench or self.benches[0]
        where = f" on {bench.label}" if len(self.benches) > 1 else ""
        why = iso_undefined(bench.data)
        return (f"fitness is undefined{where}: {why}" if why else
                f"fitness is undefined{where}: the table gave no finite iso-budget rho")
