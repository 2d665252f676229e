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
from pathlib import Path

from torch import nn

from tapq.bench import BenchData, BenchStore, load_bench_data
from tapq.data import DatasetSplits, load_data
from tapq.device import DeviceLike, resolve_device
from tapq.errors import TapqError
from tapq.models import load_model
from tapq.proxies.baselines import BASELINE_PROXIES, Proxy
from tapq.proxies.fitness import Fitness, config_scores, failed, fitness
from tapq.proxies.loading import ProxyFile, load_proxy, table_of
from tapq.proxies.stats import LayerStats
from tapq.proxies.stats_cache import collect_stats_cached
from tapq.proxies.stats_config import StatsConfig

__all__ = ["STATS_BATCH", "STATS_SEED", "bench_for_scoring", "bench_stats", "best_human",
           "evaluate_proxies", "model_stats", "same_ranking", "score_proxy"]

STATS_BATCH = 128  # calibration images the statistics of a small model are computed on
STATS_SEED = 0


def model_stats(model: nn.Module, data: DatasetSplits, device: DeviceLike = None,
                config: StatsConfig | None = None) -> list[LayerStats]:
    """Layer statistics of `model` on the fixed statistics batch of `data` (cached): the
    same batch for benchmark scoring and for allocation, so a proxy sees the same thing.
    `config` sets their cost (default: by the model's size, see StatsConfig); `device`
    is where they are computed when not cached (default CPU)."""
    size = sum(p.numel() for p in model.parameters())
    config = (config or StatsConfig()).resolved(size)
    batch = data.calib.subset(config.n, STATS_SEED)
    return collect_stats_cached(model, batch.x, batch.y, device=resolve_device(device),
                                seed=config.seed, hutchinson_samples=config.hutchinson_probes,
                                power_iters=config.power_iters, statistics=config.statistics)


def bench_stats(store: BenchStore, device: DeviceLike = None,
                config: StatsConfig | None = None) -> list[LayerStats]:
    """Layer statistics of the benchmark's model on its fixed statistics batch (cached)."""
    meta = store.meta()
    model = load_model(meta["spec"]["model"], meta["spec"]["weights"])
    stats = model_stats(model, load_data(meta["data"]), device, config)
    if [s.name for s in stats] != meta["layers"]:
        raise TapqError("the benchmark's layers do not match its model's; was the model changed?")
    return stats


def score_proxy(name: str, proxy: Proxy | ProxyFile, stats: list[LayerStats], data: BenchData) -> Fitness:
    """Fitness of one proxy; a proxy that raises or returns non-finite values gets -inf."""
    start = time.perf_counter()
    try:
        table = table_of(proxy, stats, data.bit_choices)
    except Exception as error:
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        return failed(name, last)
    ms = 1000 * (time.perf_counter() - start)
    scores = config_scores(table, data.bit_choices, data.bits)
    return fitness(name, scores, data.accuracy, data.avg_bits, data.is_val, ms)


def bench_for_scoring(bench_path: str | Path, device: DeviceLike = None,
                      config: StatsConfig | None = None) -> tuple[BenchData, list[LayerStats]]:
    """A benchmark's measured configurations and its model's statistics, or TapqError if
    it holds too few configurations to judge a proxy on."""
    store = BenchStore(bench_path)
    try:
        data = load_bench_data(store)
        if len(data.accuracy) < 10:
            raise TapqError(f"{bench_path} has only {len(data.accuracy)} measured "
                            "configurations; finish building it first")
        return data, bench_stats(store, device, config)
    finally:
        store.close()


def evaluate_proxies(bench_path: str | Path, specs: list[str] | None = None,
                     device: DeviceLike = None, config: StatsConfig | None = None
                     ) -> list[Fitness]:
    """Fitness of each proxy in `specs` (all built-ins if None) on benchmark `bench_path`;
    the statistics (settings `config`), if not cached, are computed on `device` (default
    CPU)."""
    proxies = [load_proxy(s) for s in (specs or list(BASELINE_PROXIES))]
    data, stats = bench_for_scoring(bench_path, device, config)
    for layer in stats:  # quantize once up front, so no proxy's time includes it
        for bits in data.bit_choices:
            layer.quant(bits)
    return [score_proxy(name, proxy, stats, data) for name, proxy in proxies]


def best_human(results: Iterable[Fitness]) -> Fitness | None:
    """The built-in proxy with the best iso-budget rho on the search split among `results`
    (None when none of them is a built-in with a finite score): the one to beat."""
    humans = [f for f in results if f.proxy in BASELINE_PROXIES and math.isfinite(f.spearman_iso)]
    return max(humans, key=lambda f: f.spearman_iso, default=None)


# The rank statistics two proxies share exactly when they order every configuration alike.
_RANK_KEYS = ("spearman", "kendall", "spearman_top20", "spearman_top50", "spearman_iso",
              "spearman_val", "spearman_iso_val")


def same_ranking(proxy: Fitness, others: Iterable[Fitness]) -> str | None:
    """The first of `others` that ranks every benchmark configuration exactly as `proxy`
    does (same rank statistics on both splits), if any: a small LLM often rediscovers --
    or copies -- a known proxy, and a user should be told."""
    if not math.isfinite(proxy.spearman_iso):
        return None
    for other in others:
        if other.proxy != proxy.proxy and all(
                abs(getattr(proxy, k) - getattr(other, k)) < 1e-9 for k in _RANK_KEYS):
            return other.proxy
    return None
