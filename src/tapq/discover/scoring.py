"""A candidate's outcome: its status and fitness from the sandbox, then whether it is new.

`fill` turns a sandbox result into status, table and fitness (a table that is constant or
ignores bits is an error, novelty.py says why). `NoveltyJudge` then names what a valid
table copies -- a seed or an earlier candidate -- at the moment the record is stored, in
slot order, so a resumed or parallel run judges exactly as an uninterrupted serial one.
"""
from __future__ import annotations

import math

import numpy as np

from tapq.discover.novelty import NoveltyIndex, table_problem
from tapq.discover.store import CandidateRecord, RunStore, Status
from tapq.discover.task import SearchTask
from tapq.sandbox import SandboxResult

__all__ = ["NoveltyJudge", "fill"]


def fill(record: CandidateRecord, result: SandboxResult, task: SearchTask) -> None:
    """Status, table, fitness and metrics of `record` from its sandbox result."""
    record.eval_seconds = result.seconds
    record.status = Status(result.status)
    if record.status != Status.OK:
        record.error = result.error
        return
    score(record, np.asarray(result.table, dtype=float), task)


def score(record: CandidateRecord, table: np.ndarray, task: SearchTask) -> None:
    """Table, fitness and metrics of `record` from a table computed for it."""
    record.table = table.tolist()
    problem = table_problem(table)
    if problem is not None:
        record.status, record.error, record.fitness = Status.ERROR, problem, float("-inf")
        return
    record.metrics = task.fitness_of(table)
    record.fitness = record.metrics["spearman_iso"]
    if not math.isfinite(record.fitness):
        record.status, record.error = Status.ERROR, task.undefined_reason()
        record.fitness = float("-inf")


class NoveltyJudge:
    """Every distinct table of a run so far; marks copies as records are stored."""

    def __init__(self, store: RunStore):
        self.index = NoveltyIndex()
        for record in store.distinct_tables():
            if record.table is not None:
                self.index.add(record.id, np.array(record.table))

    def judge(self, record: CandidateRecord) -> None:
        """Set `record.copy_of` before it is stored: a valid table copies the first known
        table that ranks like it. (A verbatim repeat of an evaluated program takes its
        original's verdict instead; evolution.py copies it with the outcome.)"""
        if record.valid and record.table is not None:
            record.copy_of = self.index.copy_of(np.array(record.table))

    def learn(self, record: CandidateRecord) -> None:
        """Remember a stored record's table if it is valid and no copy."""
        if record.valid and record.copy_of is None and record.duplicate_of is None \
                and record.table is not None and record.id is not None:
            self.index.add(record.id, np.array(record.table))
