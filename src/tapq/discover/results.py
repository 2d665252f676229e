"""What a finished run hands over: best_proxy.py, a leaderboard, and per-generation figures.

``best_proxy.py`` is a plain proxy file (thought as its docstring), usable as it is by
``tapq proxy eval`` and ``tapq allocate``; like any proxy file it runs in the sandbox.

The run's answer is chosen on the benchmark's *select* split: of the last generation's
population (the best distinct programs by search fitness), the one with the best
iso-budget rho on select. Fitness on search drove the evolution, so it is optimistic for
the survivors; select is fresh data for that one choice. The *test* split is never read
here (discovery is not even given it); the final check reports it.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tapq.discover.store import CandidateRecord, RunStore
from tapq.outputs import atomic_path, write_text_atomic

BEST_PROXY = "best_proxy.py"
LEADERBOARD = "leaderboard.csv"


@dataclass(frozen=True)
class GenerationSummary:
    """One generation at a glance: how many candidates were valid and how good they were."""

    generation: int
    candidates: int
    valid: int
    best: float
    median: float
    best_select: float
    population_best: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class RunSummary:
    """A run's outcome: generations, the best candidate, and its cost."""

    generations: list[GenerationSummary]
    best: CandidateRecord | None
    candidates: int
    valid: int
    duplicates: int
    prompt_tokens: int
    completion_tokens: int
    llm_seconds: float
    eval_seconds: float

    def to_json(self) -> dict:
        best = self.best
        return {
            "generations": [g.__dict__ for g in self.generations],
            "best": None if best is None else {
                "id": best.id, "generation": best.generation, "strategy": best.strategy,
                "thought": best.thought, "code": best.code, "metrics": best.metrics},
            "candidates": self.candidates, "valid": self.valid, "duplicates": self.duplicates,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "llm_seconds": self.llm_seconds, "eval_seconds": self.eval_seconds}


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def summarize(store: RunStore) -> RunSummary:
    """Per-generation figures and the best survivor of the last finished generation."""
    records = store.candidates()
    generations = []
    for gen in store.generations():
        members = [r for r in records if r.generation == gen.generation]
        fits = _finite([r.fitness for r in members])
        vals = _finite([select_fitness(r) for r in members if math.isfinite(r.fitness)])
        generations.append(GenerationSummary(
            gen.generation, len(members), len(fits), max(fits, default=float("nan")),
            float(np.median(fits)) if fits else float("nan"),
            max(vals, default=float("nan")), gen.best_fitness, gen.probabilities))
    done = store.generations()
    best = chosen([store.candidate(i) for i in done[-1].population]) if done else None
    return RunSummary(
        generations, best, len(records), sum(math.isfinite(r.fitness) for r in records),
        sum(r.duplicate_of is not None for r in records),
        sum(r.prompt_tokens for r in records if not r.cached),
        sum(r.completion_tokens for r in records if not r.cached),
        sum(r.llm_seconds for r in records if not r.cached),
        sum(r.eval_seconds for r in records))


def select_fitness(record: CandidateRecord) -> float:
    """A candidate's iso-budget rho on the select split (runs from before the three
    splits stored it as ``spearman_iso_val``)."""
    metrics = record.metrics or {}
    return float(metrics.get("spearman_iso_select", metrics.get("spearman_iso_val", float("nan"))))


def chosen(population: list[CandidateRecord]) -> CandidateRecord | None:
    """The run's answer: the best of `population` (in search order) on the select split;
    where select cannot rank (undefined there for all), the best on search."""
    ranked = [(select_fitness(r), -i) for i, r in enumerate(population)]
    finite = [k for k in ranked if math.isfinite(k[0])]
    if not finite:
        return population[0] if population else None
    return population[-max(finite)[1]]


def proxy_file_text(record: CandidateRecord, bench: str) -> str:
    """A proxy file for `record`: its thought and provenance as docstring, then its code."""
    metrics = record.metrics
    thought = (record.thought or "(no thought given)").replace("\\", "\\\\").replace('"""', "'''")
    doc = (f'"""{thought}\n\nDiscovered by tapq discover: candidate {record.id}, generation '
           f"{record.generation}, strategy {record.strategy}.\n"
           f"Fitness on {bench}: iso-budget Spearman {metrics.get('spearman_iso', 0):.4f} "
           f"(search), {select_fitness(record):.4f} (select).\n"
           'It runs in the tapq sandbox; use with tapq proxy eval / tapq allocate --proxy.\n"""\n')
    return doc + (record.code or "")


def write_outputs(store: RunStore, out: Path, bench: str) -> tuple[Path | None, Path]:
    """Write best_proxy.py (when a valid candidate exists) and leaderboard.csv."""
    summary = summarize(store)
    best_path = None
    if summary.best is not None:
        best_path = out / BEST_PROXY
        write_text_atomic(best_path, proxy_file_text(summary.best, bench))
    board = out / LEADERBOARD
    rows = leaderboard(store)
    with atomic_path(board) as partial, partial.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "id", "generation", "strategy", "fitness_search",
                         "fitness_select", "spearman", "thought"])
        for rank, r in enumerate(rows, 1):
            writer.writerow([rank, r.id, r.generation, r.strategy, f"{r.fitness:.4f}",
                             f"{select_fitness(r):.4f}",
                             f"{r.metrics.get('spearman', float('nan')):.4f}", r.thought])
    return best_path, board


def leaderboard(store: RunStore, limit: int | None = None) -> list[CandidateRecord]:
    """Valid, distinct candidates by search fitness (the first of identical programs)."""
    valid = store.distinct_valid()
    valid.sort(key=lambda r: (r.fitness, r.generation, r.id), reverse=True)
    return valid[:limit] if limit else valid
