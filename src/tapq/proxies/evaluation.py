"""Proxies judged on a benchmark: the statistics they read, their tables, their fitness.

This is where a benchmark (its configurations and measurements), its model's statistics
and the proxies (built-in, or files run in the sandbox) meet: ``evaluate_proxies`` is what
``tapq proxy eval`` prints and what discovery's final check compares; ``best_human`` names
the baseline a discovered proxy has to beat.
"""
from __future__ import annotations

import math
import time
import traceback
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
from torch import nn

from tapq.bench import BenchData, BenchStore, load_bench_data
from tapq.data import DatasetSplits, load_data
from tapq.device import DeviceLike, resolve_device
from tapq.errors import TapqError
from tapq.intervals import iso_intervals, verdict
from tapq.models import load_model
from tapq.proxies.baselines import BASELINE_PROXIES, Proxy
from tapq.proxies.fitness import Fitness, config_scores, failed, fitness
from tapq.proxies.loading import ProxyFile, load_proxy, table_of
from tapq.proxies.stats import LayerStats
from tapq.proxies.stats_cache import collect_stats_cached
from tapq.proxies.stats_config import StatsConfig
from tapq.proxies.stats_ptq_view import PTQView

__all__ = ["STATS_BATCH", "STATS_SEED", "bench_for_scoring", "bench_stats", "best_human",
           "evaluate_proxies", "human_scores", "model_stats", "same_ranking", "score_proxy",
           "with_intervals"]

STATS_BATCH = 128  # calibration images the statistics of a small model are computed on
STATS_SEED = 0


def model_stats(model: nn.Module, data: DatasetSplits, device: DeviceLike = None,
                config: StatsConfig | None = None, ptq: PTQView | None = None
                ) -> list[LayerStats]:
    """Layer statistics of `model` on the fixed statistics batch of `data` (cached): the
    same batch for benchmark scoring and for allocation, so a proxy sees the same thing.
    `config` sets their cost (default: by the model's size, see StatsConfig); `ptq` the
    PTQ whose weights and single-layer losses the statistics hold (default: tapq's
    default PTQ at 2..8 bits, activations at 8); `device` is where they are computed
    when not cached (default CPU)."""
    size = sum(p.numel() for p in model.parameters())
    config = (config or StatsConfig()).resolved(size)
    ptq = ptq or PTQView()
    batch = data.calib.subset(config.n, STATS_SEED)
    return collect_stats_cached(model, batch.x, batch.y, device=resolve_device(device),
                                seed=config.seed, hutchinson_samples=config.hutchinson_probes,
                                power_iters=config.power_iters, statistics=config.statistics,
                                bits=ptq.bits, ptq=ptq.settings, a_bits=ptq.a_bits,
                                background_bits=max(ptq.bits), ptq_calib=data.calib.x)


def bench_stats(store: BenchStore, device: DeviceLike = None,
                config: StatsConfig | None = None) -> list[LayerStats]:
    """Layer statistics of the benchmark's model on its fixed statistics batch (cached),
    their PTQ statistics made with the benchmark's own PTQ, bit-widths and activations."""
    meta = store.meta()
    model = load_model(meta["spec"]["model"], meta["spec"]["weights"])
    stats = model_stats(model, load_data(meta["data"]), device, config, PTQView.of(meta))
    if [s.name for s in stats] != meta["layers"]:
        raise TapqError("the benchmark's layers do not match its model's; was the model changed?")
    return stats


def _scored(name: str, proxy: Proxy | ProxyFile, stats: list[LayerStats], data: BenchData
            ) -> tuple[Fitness, np.ndarray | None]:
    """A proxy's fitness and its configuration scores (None when it failed)."""
    start = time.perf_counter()
    try:
        table = table_of(proxy, stats, data.bit_choices)
    except Exception as error:
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        return failed(name, last, data.target), None
    ms = 1000 * (time.perf_counter() - start)
    scores = config_scores(table, data.bit_choices, data.bits)
    return fitness(name, scores, data, ms), scores


def score_proxy(name: str, proxy: Proxy | ProxyFile, stats: list[LayerStats], data: BenchData
                ) -> Fitness:
    """Fitness of one proxy; a proxy that raises or returns non-finite values gets -inf."""
    return _scored(name, proxy, stats, data)[0]


def human_scores(stats: list[LayerStats], data: BenchData) -> dict[str, np.ndarray]:
    """Each human baseline's configuration scores on `data`; a baseline that cannot be
    computed on this network (hawq_v1 where the Hessian statistics are NaN, say) is left
    out, as the fitness check leaves it without a score: what the benchmarks compare a
    discovered proxy against."""
    scored = {name: _scored(name, proxy, stats, data)[1]
              for name, proxy in BASELINE_PROXIES.items()}
    return {name: scores for name, scores in scored.items() if scores is not None}


def bench_for_scoring(bench_path: str | Path, device: DeviceLike = None,
                      config: StatsConfig | None = None, target: str | None = None
                      ) -> tuple[BenchData, list[LayerStats]]:
    """A benchmark's measured configurations (ranked against `target`, default its
    primary one) and its model's statistics (settings `config`), or TapqError if it holds
    too few configurations to judge a proxy on."""
    store = BenchStore(bench_path)
    try:
        data = load_bench_data(store, target)
        if len(data.avg_bits) < 10:
            raise TapqError(f"{bench_path} has only {len(data.avg_bits)} measured "
                            "configurations; finish building it first")
        return data, bench_stats(store, device, config)
    finally:
        store.close()


def evaluate_proxies(bench_path: str | Path, specs: list[str] | None = None,
                     device: DeviceLike = None, config: StatsConfig | None = None,
                     target: str | None = None, split: str = "test",
                     reference: str | None = None) -> list[Fitness]:
    """Fitness of each proxy in `specs` (all built-ins if None) on benchmark `bench_path`,
    ranked against `target` (default: the benchmark's primary target), with 95% intervals
    on `split` against `reference` (default: the best built-in on the search split; see
    ``with_intervals``). Statistics (settings `config`), if not cached, are computed on
    `device` (default CPU)."""
    specs = list(specs or BASELINE_PROXIES)
    if reference is not None and reference not in specs:
        specs.append(reference)
    proxies = [load_proxy(s) for s in specs]
    data, stats = bench_for_scoring(bench_path, device, config, target)
    data.in_split(split)  # an unknown split fails before any work
    for layer in stats:  # quantize once up front, so no proxy's time includes it
        for bits in data.bit_choices:
            layer.quant(bits)
    scored = [_scored(name, proxy, stats, data) for name, proxy in proxies]
    names = [name for name, _ in proxies]
    return with_intervals(scored, data, split,
                          names[specs.index(reference)] if reference is not None else None)


def with_intervals(scored: list[tuple[Fitness, np.ndarray | None]], data: BenchData,
                   split: str = "test", reference: str | None = None) -> list[Fitness]:
    """The fitness of each scored proxy with its iso-budget rho's 95% interval on `split`
    and its paired difference to `reference` (default: the best built-in on the search
    split, chosen without looking at `split`) with that difference's interval and verdict
    (``beats`` only when the interval excludes 0)."""
    results = [f for f, _ in scored]
    valid = [i for i, (f, s) in enumerate(scored) if s is not None]
    if not valid:
        return results
    if reference is None:
        best = best_human(results)
        reference = best.proxy if best is not None else None
    names = [results[i].proxy for i in valid]
    ref = names.index(reference) if reference in names else None
    mask = data.in_split(split)
    matrix = np.stack([scored[i][1][mask] for i in valid])
    found = iso_intervals(matrix, data.values[mask], data.avg_bits[mask],
                          reference=ref if ref is not None else 0)
    for row, i in enumerate(valid):
        extra = {"split": split, "spearman_iso_ci": tuple(map(float, found.rho_ci[row]))}
        if ref is not None:
            delta_ci = tuple(map(float, found.delta_ci[row]))
            extra.update(reference=reference, delta_iso=float(found.delta[row]),
                         delta_iso_ci=delta_ci,
                         verdict=None if row == ref else verdict(delta_ci))
        results[i] = replace(results[i], **extra)
    return results


def best_human(results: Iterable[Fitness]) -> Fitness | None:
    """The built-in proxy with the best iso-budget rho on the search split among `results`
    (None when none of them is a built-in with a finite score): the one to beat."""
    humans = [f for f in results if f.proxy in BASELINE_PROXIES and math.isfinite(f.spearman_iso)]
    return max(humans, key=lambda f: f.spearman_iso, default=None)


# The rank statistics two proxies share exactly when they order every configuration alike.
_RANK_KEYS = ("spearman", "kendall", "spearman_top20", "spearman_top50", "spearman_iso",
              "spearman_select", "spearman_iso_select", "spearman_test", "spearman_iso_test")


def same_ranking(proxy: Fitness, others: Iterable[Fitness]) -> str | None:
    """The first of `others` that ranks every benchmark configuration exactly as `proxy`
    does (same rank statistics on both splits), if any: a small LLM often rediscovers --
    or copies -- a known proxy, and a user should be told."""
    if not math.isfinite(proxy.spearman_iso):
        return None
    for other in others:
        if other.proxy != proxy.proxy and all(
                _same(getattr(proxy, k), getattr(other, k)) for k in _RANK_KEYS):
            return other.proxy
    return None


def _same(a: float, b: float) -> bool:
    """Equal figures (two NaNs -- a split the evaluation did not have -- count as equal)."""
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-9
