"""Is a candidate's table a new proxy? Validity beyond finiteness, and copies by ranking.

A small LLM mostly hands back what it was shown: the starting body with ``2`` for ``2.0``,
a renamed variable, a factor of 2. Such a program hashes differently (candidate.py) yet
allocates exactly as the original, because allocation and fitness only see the *ranking*
of the table's layer x bit cells. So a table whose cells rank like an earlier one's
(Spearman >= 0.999 over all cells) is a copy of it, however its code differs.

A table that is constant, or that does not change with ``bits`` for any layer, cannot
tell one bit-width from another: it scores every configuration of a budget band alike up
to layer count, and an allocator fed with it is choosing blind. It is invalid, with the
reason said, rather than a valid proxy of fitness 0.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["COPY_THRESHOLD", "NoveltyIndex", "table_problem"]

COPY_THRESHOLD = 0.999  # Spearman over all cells at or above which two tables are one proxy


def table_problem(table: np.ndarray) -> str | None:
    """Why `table` (layers x bit-widths) cannot be a proxy, or None when it can."""
    table = np.asarray(table, dtype=float)
    if np.ptp(table) == 0:
        return "the table is constant: every layer and bit-width scores the same"
    if table.shape[1] > 1 and np.all(np.ptp(table, axis=1) == 0):
        return "the table does not depend on bits: no layer's score changes with the bit-width"
    return None


def _centred_ranks(table: np.ndarray) -> np.ndarray:
    ranks = rankdata(np.asarray(table, dtype=float).ravel())
    ranks -= ranks.mean()
    norm = np.linalg.norm(ranks)
    return ranks / norm if norm > 0 else ranks


class NoveltyIndex:
    """The distinct tables seen so far (seeds first), by record id, to test new ones against."""

    def __init__(self, threshold: float = COPY_THRESHOLD):
        self.threshold = threshold
        self._ids: list[int] = []
        self._ranks: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, record_id: int, table: np.ndarray) -> None:
        self._ids.append(record_id)
        self._ranks.append(_centred_ranks(table))

    def copy_of(self, table: np.ndarray) -> int | None:
        """The id of the first known table that ranks its cells like `table` does (None if
        it is new). Tables of another shape never match."""
        ranks = _centred_ranks(table)
        for record_id, known in zip(self._ids, self._ranks):
            if known.shape == ranks.shape and float(known @ ranks) >= self.threshold:
                return record_id
        return None

    def copies(self, table: np.ndarray) -> list[int]:
        """The ids of every known table that ranks its cells like `table` does, in the
        order they were added."""
        ranks = _centred_ranks(table)
        return [record_id for record_id, known in zip(self._ids, self._ranks)
                if known.shape == ranks.shape and float(known @ ranks) >= self.threshold]

    def similarity(self, table: np.ndarray) -> tuple[int | None, float]:
        """The most similar known table's id and its Spearman with `table`."""
        ranks = _centred_ranks(table)
        best: tuple[int | None, float] = (None, float("-inf"))
        for record_id, known in zip(self._ids, self._ranks):
            if known.shape == ranks.shape and float(known @ ranks) > best[1]:
                best = (record_id, float(known @ ranks))
        return best
