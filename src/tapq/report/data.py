"""What the report shows, gathered from a benchmark and (optionally) a discovery run.

Pure reading: nothing here measures anything except the proxies' tables on the cached
statistics (milliseconds). The Pareto sweep, which does run PTQ, lives in sweep.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tapq.bench import BenchData, BenchStore, bench_info, load_bench_data, noise_ceiling_iso
from tapq.device import DeviceLike
from tapq.discover import (CandidateRecord, GenerationRecord, RunStore, RunSummary, leaderboard,
                           summarize)
from tapq.errors import TapqError
from tapq.proxies import (BASELINE_PROXIES, Fitness, bench_stats, best_human, config_scores,
                          fitness, proxy_table, with_intervals)


@dataclass(frozen=True)
class BenchView:
    """A benchmark's measured configurations with their costs, and its reliability."""

    path: Path
    info: dict
    data: BenchData
    size_mb: np.ndarray
    bitops: np.ndarray
    ceiling_iso: float  # the pooled proxy ceiling (bench_info's "ceiling")
    repeated: tuple[np.ndarray, np.ndarray]  # accuracies under the two calibration seeds
    layer_drop: dict[tuple[str, int], float]  # (layer, bits) -> accuracy drop alone


@dataclass(frozen=True)
class ProxyView:
    """One proxy's table, configuration scores and fitness on the benchmark."""

    name: str
    table: np.ndarray
    scores: np.ndarray
    fitness: Fitness
    discovered: bool = False


@dataclass(frozen=True)
class RunView:
    """A discovery run: its settings, generations, leaderboard and best candidate."""

    path: Path
    meta: dict
    summary: RunSummary
    generations: list[GenerationRecord]
    leaderboard: list[CandidateRecord]
    statuses: dict[str, int] = field(default_factory=dict)
    transfer: tuple[list[dict], list[str]] | None = None  # rows and notes (transfer.py)


def load_bench_view(path: str | Path) -> BenchView:
    """Read a benchmark file (TapqError if it is missing or not a benchmark)."""
    path = Path(path)
    if not path.is_file():
        raise TapqError(f"benchmark not found: {path}")
    store = BenchStore(path)
    try:
        data = load_bench_data(store)
        if len(data.avg_bits) < 10:
            raise TapqError(f"{path} has only {len(data.avg_bits)} measured configurations")
        meta = store.meta()
        measured = {r.config_id for r in store.results(meta["calib_seeds"][0])}
        rows = [c for c in store.configs("sample") if c.id in measured]
        seeds = meta["calib_seeds"]
        first = {r.config_id: r.accuracy for r in store.results(seeds[0])
                 if r.accuracy is not None}
        second = {r.config_id: r.accuracy for r in store.results(seeds[1])
                  if r.accuracy is not None} if len(seeds) > 1 else {}
        both = sorted(set(first) & set(second))
        layer_rows = {c.id: c for c in store.configs("layer")}
        fp = meta["fp_accuracy"]
        drop = {(layer_rows[i].layer, layer_rows[i].layer_bits): fp - first[i]
                for i in layer_rows if i in first and fp is not None}
        info = bench_info(store)
        # The proxy ceiling (independent halves and seeds) bounds iso-rho; the old seed-only
        # noise ceiling overstates it and is the fallback only where no halves exist.
        ceiling = info["ceiling"] if info.get("ceiling") is not None else noise_ceiling_iso(store)
        return BenchView(path, info, data, np.array([c.size_mb for c in rows]),
                         np.array([c.bitops for c in rows], dtype=float), ceiling,
                         (np.array([first[i] for i in both]), np.array([second[i] for i in both])),
                         drop)
    finally:
        store.close()


def proxy_view(name: str, table: np.ndarray, bench: BenchView, discovered: bool = False) -> ProxyView:
    """Scores and fitness of a proxy table on the benchmark."""
    data = bench.data
    scores = config_scores(table, data.bit_choices, data.bits)
    return ProxyView(name, table, scores, fitness(name, scores, data, 0.0), discovered)


def baseline_views(bench: BenchView, device: DeviceLike = None) -> list[ProxyView]:
    """Every built-in proxy on the benchmark (statistics are cached on disk; when not,
    computed on `device`, default CPU)."""
    store = BenchStore(bench.path)
    try:
        stats = bench_stats(store, device)
    finally:
        store.close()
    return [proxy_view(name, proxy_table(stats, function, bench.data.bit_choices), bench)
            for name, function in BASELINE_PROXIES.items()]


def load_run_view(path: str | Path) -> RunView:
    """Read a discovery run folder (TapqError if it holds no run)."""
    path = Path(path)
    database = path / "run.db"
    if not database.is_file():
        raise TapqError(f"{path} holds no discovery run (no run.db); run tapq discover first")
    store = RunStore(database)
    try:
        meta = store.meta()
        if not meta.get("config"):
            raise TapqError(f"{database} is not a tapq discovery run")
        statuses: dict[str, int] = {}
        for record in store.candidates():
            if record.is_seed:
                continue
            statuses[record.status] = statuses.get(record.status, 0) + 1
        return RunView(path, meta, summarize(store), store.generations(), leaderboard(store),
                       statuses, store.transfer())
    finally:
        store.close()


def best_human_view(views: list[ProxyView]) -> ProxyView | None:
    """The baseline with the best iso-budget rho on the search split (tapq.proxies'
    best_human, among the views); None when none has a finite one (a benchmark too small
    for iso-budget bands)."""
    best = best_human(v.fitness for v in views)
    return next((v for v in views if v.fitness is best), None)


def with_test_intervals(bench: BenchView, views: list[ProxyView], reference: str | None
                        ) -> list[ProxyView]:
    """`views` with 95% intervals on the test split: each proxy's iso-budget rho, and its
    paired difference to `reference` with the verdict (``beats`` only when the interval
    excludes 0)."""
    if not views or not bench.data.in_split("test").any():
        return views
    found = with_intervals([(v.fitness, v.scores) for v in views], bench.data, "test",
                           reference)
    return [replace(v, fitness=f) for v, f in zip(views, found)]
