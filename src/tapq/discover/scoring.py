"""A candidate's outcome: its status and fitness from the sandbox, then whether it is new.

`fill` turns a program's sandbox results (one per benchmark searched) into status, tables
and fitness (a table that is constant or ignores bits is an error, novelty.py says why).
`NoveltyJudge` then names what a valid candidate copies -- a seed or an earlier candidate
-- at the moment the record is stored, in slot order, so a resumed or parallel run judges
exactly as an uninterrupted serial one. With several benchmarks a candidate is a copy of
an earlier proxy only when its tables rank like that proxy's on *every* benchmark: a
program that agrees with fisher on one network and not on another is a different proxy.
"""
from __future__ import annotations

import math

import numpy as np

from tapq.discover.novelty import NoveltyIndex, table_problem
from tapq.discover.store import CandidateRecord, RunStore, Status
from tapq.discover.task import SearchTask
from tapq.sandbox import SandboxResult

__all__ = ["NoveltyJudge", "fill", "score"]


def _on(task: SearchTask, label: str) -> str:
    """`` on LABEL`` when the run searches several benchmarks (else nothing)."""
    return f" on {label}" if len(task.benches) > 1 else ""


def fill(record: CandidateRecord, results: list[SandboxResult], task: SearchTask) -> None:
    """Status, tables, fitness and metrics of `record` from its sandbox results, one per
    benchmark in order (fewer when it failed: the last one says how)."""
    record.eval_seconds = sum(r.seconds for r in results)
    for bench, result in zip(task.benches, results):
        if result.status != Status.OK:
            record.status = Status(result.status)
            record.error = f"{result.error}{_on(task, bench.label)}".strip()
            return
    record.status = Status.OK
    score(record, [np.asarray(r.table, dtype=float) for r in results], task)


def score(record: CandidateRecord, tables: list[np.ndarray], task: SearchTask) -> None:
    """Tables, fitness and metrics of `record` from the tables computed for it, one per
    benchmark of `task`: each benchmark's own figures in ``bench_scores``, combined by
    the run's rule into ``fitness`` and ``metrics``."""
    record.table = tables[0].tolist()
    for bench, table in zip(task.benches, tables):
        problem = table_problem(table)
        if problem is not None:
            record.status, record.fitness = Status.ERROR, float("-inf")
            record.error = problem + _on(task, bench.label)
            return
    record.metrics, per_bench = task.fitness_of(tables)
    record.bench_scores = {label: {"fitness": figures["spearman_iso"], "metrics": figures,
                                   "table": table.tolist()}
                           for (label, figures), table in zip(per_bench.items(), tables)}
    record.fitness = record.metrics["spearman_iso"]
    undefined = next((b for b in task.benches
                      if not math.isfinite(per_bench[b.label]["spearman_iso"])), None)
    if undefined is not None:  # fitness on every benchmark, never on fewer
        record.status, record.error = Status.ERROR, task.undefined_reason(undefined)
        record.fitness = float("-inf")


class NoveltyJudge:
    """Every distinct proxy of a run so far, one index of tables per benchmark; marks
    copies as records are stored."""

    def __init__(self, store: RunStore, labels: list[str]):
        self.labels = labels
        self.indexes = {label: NoveltyIndex() for label in labels}
        for record in store.distinct_tables():
            self._add(record)

    def _tables(self, record: CandidateRecord) -> dict[str, np.ndarray]:
        tables = record.bench_tables()
        if "" in tables:  # stored before benchmarks were named: the run's only one
            tables = {self.labels[0]: tables.pop("")}
        return {k: np.array(v) for k, v in tables.items() if k in self.indexes}

    def _add(self, record: CandidateRecord) -> None:
        for label, table in self._tables(record).items():
            self.indexes[label].add(record.id, table)

    def judge(self, record: CandidateRecord) -> None:
        """Set `record.copy_of` before it is stored: a valid candidate copies the first
        known proxy whose table ranks like its own on every benchmark. (A verbatim repeat
        of an evaluated program takes its original's verdict instead; evolution.py
        copies it with the outcome.)"""
        if not record.valid:
            return
        tables = self._tables(record)
        if len(tables) != len(self.labels):
            return
        shared = None
        for label, table in tables.items():
            found = set(self.indexes[label].copies(table))
            shared = found if shared is None else shared & found
        record.copy_of = min(shared) if shared else None

    def learn(self, record: CandidateRecord) -> None:
        """Remember a stored record's tables if it is valid and no copy."""
        if record.valid and record.copy_of is None and record.duplicate_of is None \
                and record.id is not None:
            self._add(record)
