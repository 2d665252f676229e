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
    novel: int = 0


@dataclass(frozen=True)
class RunSummary:
    """A run's outcome: generations, the best novel candidate, the seeds, and the cost.

    Attributes:
        best: the best *novel* candidate by search fitness (valid, written by the LLM, no
            repeat and no copy of a seed or earlier candidate): the run's discovery, or None.
        best_seed: the best seed (human baseline or hint body) by search fitness.
        best_copy: the best valid candidate that copies a seed or an earlier one, when it
            scores above `best` (a run must say so rather than call it discovered).
        candidates, valid: the LLM's candidates (seeds not counted) and the valid ones.
        novel: distinct novel tables; copies: valid candidates that copy a seed or an
            earlier table; duplicates: verbatim repeats of an evaluated program.
    """

    generations: list[GenerationSummary]
    best: CandidateRecord | None
    candidates: int
    valid: int
    duplicates: int
    prompt_tokens: int
    completion_tokens: int
    llm_seconds: float
    eval_seconds: float
    seeds: int = 0
    novel: int = 0
    copies: int = 0
    best_seed: CandidateRecord | None = None
    best_copy: CandidateRecord | None = None

    def to_json(self) -> dict:
        return {
            "generations": [g.__dict__ for g in self.generations],
            "best": _brief(self.best), "best_seed": _brief(self.best_seed),
            "best_copy": _brief(self.best_copy), "seeds": self.seeds, "novel": self.novel,
            "copies": self.copies,
            "candidates": self.candidates, "valid": self.valid, "duplicates": self.duplicates,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "llm_seconds": self.llm_seconds, "eval_seconds": self.eval_seconds}


def _brief(record: CandidateRecord | None) -> dict | None:
    if record is None:
        return None
    return {"id": record.id, "generation": record.generation_label,
            "strategy": record.strategy, "kind": kind_of(record), "thought": record.thought,
            "code": record.code, "metrics": record.metrics}


def kind_of(record: CandidateRecord) -> str:
    """``seed``, ``novel``, ``copy of #ID`` or ``repeat of #ID`` (verbatim): what a row of
    the leaderboard is."""
    if record.is_seed:
        return "seed" if record.copy_of is None else f"seed, copy of #{record.copy_of}"
    if record.copy_of is not None:
        return f"copy of #{record.copy_of}"
    if record.duplicate_of is not None:
        return f"repeat of #{record.duplicate_of}"
    return "novel"


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def summarize(store: RunStore) -> RunSummary:
    """Per-generation figures, the best novel candidate, the best seed, the counts."""
    everything = store.candidates()
    records = [r for r in everything if not r.is_seed]
    seeds = [r for r in everything if r.is_seed]
    generations = []
    for gen in store.generations():
        members = [r for r in records if r.generation == gen.generation]
        fits = _finite([r.fitness for r in members])
        vals = _finite([select_fitness(r) for r in members if math.isfinite(r.fitness)])
        generations.append(GenerationSummary(
            gen.generation, len(members), len(fits), max(fits, default=float("nan")),
            float(np.median(fits)) if fits else float("nan"),
            max(vals, default=float("nan")), gen.best_fitness, gen.probabilities,
            sum(r.novel for r in members)))
    # The run's answer: among the best novel candidates by search fitness (as many as the
    # population holds), the best on the select split; copies and seeds never.
    novel = sorted((r for r in records if r.novel), key=_search_order, reverse=True)
    size = (store.meta().get("config") or {}).get("population") or len(novel)
    best = chosen(novel[:size])
    copy = _best([r for r in records if r.valid and r.copy_of is not None])
    if copy is not None and best is not None and copy.fitness <= best.fitness:
        copy = None
    return RunSummary(
        generations, best, len(records), sum(math.isfinite(r.fitness) for r in records),
        sum(r.duplicate_of is not None for r in records),
        sum(r.prompt_tokens for r in records if not r.cached),
        sum(r.completion_tokens for r in records if not r.cached),
        sum(r.llm_seconds for r in records if not r.cached),
        sum(r.eval_seconds for r in records), len(seeds), sum(r.novel for r in records),
        sum(r.valid and r.copy_of is not None for r in records), _best(seeds), copy)


def _search_order(record: CandidateRecord) -> tuple[float, int, int]:
    return record.fitness, record.generation, record.slot


def _best(records: list[CandidateRecord]) -> CandidateRecord | None:
    """The fittest on the search split; ties to the later (as the population keeps them)."""
    valid = [r for r in records if r.valid]
    return max(valid, key=_search_order, default=None)


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


def proxy_file_text(record: CandidateRecord, bench: str, seeded: bool = True) -> str:
    """A proxy file for `record`: its thought and provenance as docstring, then its code.
    `seeded`: the run checked novelty against seeds (runs stored before seeds did not)."""
    metrics = record.metrics
    thought = (record.thought or "(no thought given)").replace("\\", "\\\\").replace('"""', "'''")
    novelty = ("novel: it ranks unlike every seed and earlier candidate" if seeded else
               "novelty against the human baselines not checked: the run predates seeds")
    doc = (f'"""{thought}\n\nWritten by tapq discover ({novelty}): candidate {record.id}, '
           f'generation '
           f"{record.generation}, strategy {record.strategy}.\n"
           f"Fitness on {bench}: iso-budget Spearman {metrics.get('spearman_iso', 0):.4f} "
           f"(search), {select_fitness(record):.4f} (select).\n"
           'It runs in the tapq sandbox; use with tapq proxy eval / tapq allocate --proxy.\n"""\n')
    return doc + (record.code or "")


def write_outputs(store: RunStore, out: Path, bench: str) -> tuple[Path | None, Path]:
    """Write best_proxy.py (when a novel valid candidate exists: a copy of a seed is never
    written as a discovery) and leaderboard.csv (seeds and copies marked as such)."""
    summary = summarize(store)
    best_path = None
    if summary.best is not None:
        best_path = out / BEST_PROXY
        write_text_atomic(best_path, proxy_file_text(summary.best, bench, summary.seeds > 0))
    board = out / LEADERBOARD
    rows = leaderboard(store)
    with atomic_path(board) as partial, partial.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "id", "generation", "strategy", "kind", "fitness_search",
                         "fitness_select", "spearman", "thought"])
        for rank, r in enumerate(rows, 1):
            writer.writerow([rank, r.id, r.generation_label, r.strategy, kind_of(r),
                             f"{r.fitness:.4f}", f"{select_fitness(r):.4f}",
                             f"{r.metrics.get('spearman', float('nan')):.4f}", r.thought])
    return best_path, board


def leaderboard(store: RunStore, limit: int | None = None) -> list[CandidateRecord]:
    """Valid, distinct programs by search fitness (the first of identical ones), seeds
    included: `kind_of` says which rows are seeds, copies or novel."""
    valid = store.distinct_valid()
    valid.sort(key=lambda r: (r.fitness, r.generation, r.id), reverse=True)
    return valid[:limit] if limit else valid
