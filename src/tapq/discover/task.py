"""What every candidate of a run is judged on: the benchmark, the sandbox job, the prompt facts.

The benchmark's split is read here and nowhere else in discovery (`search_rows`): fitness,
the implied costs a diagnosis is fitted on, and the seeds all use the rows selection may
see, so a change of the benchmark's split API touches this one place.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tapq.bench import BenchData
from tapq.discover.prompting import TaskContext
from tapq.proxies import config_scores, fitness, iso_undefined
from tapq.sandbox import SandboxJob

__all__ = ["SearchTask", "search_rows"]


def search_rows(data: BenchData) -> np.ndarray:
    """Boolean mask of the configurations selection may see (the search split)."""
    return data.in_split("search")


@dataclass(frozen=True)
class SearchTask:
    """What every candidate is judged on: the benchmark's search and select
    configurations (never its test split), the sandbox job that computes a program's
    table, and the facts every prompt states."""

    data: BenchData
    job: SandboxJob
    context: TaskContext

    def fitness_of(self, table: np.ndarray) -> dict:
        """Every fitness figure of a table on the benchmark (``--json`` form)."""
        scores = config_scores(table, self.data.bit_choices, self.data.bits)
        return fitness("candidate", scores, self.data, 0.0).to_json()

    def undefined_reason(self) -> str:
        """Why a table's fitness came out undefined (for the record's error)."""
        why = iso_undefined(self.data)
        return (f"fitness is undefined: {why}" if why else
                "fitness is undefined: the table gave no finite iso-budget rho")
