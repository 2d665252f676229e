"""Scoring proxies against a benchmark: load a proxy, build its table, compute fitness.

A proxy is a built-in name or a ``.py`` file defining ``sensitivity(layer, bits)``.
Built-ins run in this process. A file is untrusted code (a discovered proxy is one), so
it is only read here and its table is computed in the sandbox (tapq.sandbox).
"""
from __future__ import annotations

import ast
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from tapq.bench.analysis import BenchData, load_bench_data
from tapq.bench.store import BenchStore
from tapq.data import DatasetSplits, load_data
from tapq.device import DeviceLike, resolve_device
from tapq.errors import TapqError
from tapq.models import load_model
from tapq.proxies.baselines import BASELINE_PROXIES, proxy_table
from tapq.proxies.fitness import Fitness, config_scores, failed, fitness
from tapq.proxies.stats import LayerStats, collect_stats_cached
from tapq.sandbox import sandboxed_proxy_table

Proxy = Callable[[LayerStats, int], float]
STATS_BATCH = 128  # calibration images the statistics are computed on
STATS_SEED = 0


@dataclass(frozen=True)
class ProxyFile:
    """A proxy read from a file: untrusted code whose table is computed in the sandbox."""

    path: Path
    code: str


def load_proxy(spec: str) -> tuple[str, Proxy | ProxyFile]:
    """(name, proxy) for a built-in proxy name or a ``FILE.py`` defining ``sensitivity``."""
    if spec in BASELINE_PROXIES:
        return spec, BASELINE_PROXIES[spec]
    path = Path(spec)
    if path.suffix != ".py":
        raise TapqError(f"unknown proxy {spec!r}; built-ins: {', '.join(BASELINE_PROXIES)}, "
                        "or a .py file defining sensitivity(layer, bits)")
    if not path.is_file():
        raise TapqError(f"proxy file not found: {path}")
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TapqError(f"cannot read proxy file {path}: {error}") from None
    # Parsing runs nothing, so a user's typo is caught here, in one line, before any
    # benchmark or sandbox work; the sandbox still screens and runs the code itself.
    try:
        tree = ast.parse(code, filename=str(path))
    except SyntaxError as error:
        where = f" at line {error.lineno}" if error.lineno else ""
        raise TapqError(f"proxy file {path} has a syntax error{where}: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, deep nesting
        raise TapqError(f"proxy file {path} is not Python source: "
                        f"{type(error).__name__}: {error}") from None
    # The sandbox's own rule (tapq.sandbox.screen._check_entry): a top-level def.
    if not any(isinstance(node, ast.FunctionDef) and node.name == "sensitivity"
               for node in tree.body):
        raise TapqError(f"proxy file {path} defines no function sensitivity(layer, bits)")
    return path.stem, ProxyFile(path, code)


def table_of(proxy: Proxy | ProxyFile, stats: list[LayerStats],
             bit_choices: Sequence[int]) -> np.ndarray:
    """T[layer, bit] of a proxy: in-process for a built-in, in the sandbox for a file.
    Raises ValueError/TapqError with the reason when the proxy fails."""
    if isinstance(proxy, ProxyFile):
        return sandboxed_proxy_table(proxy.code, stats, list(bit_choices))
    return proxy_table(stats, proxy, bit_choices)


def model_stats(model: nn.Module, data: DatasetSplits, device: DeviceLike = None) -> list[LayerStats]:
    """Layer statistics of `model` on the fixed statistics batch of `data` (cached): the
    same batch for benchmark scoring and for allocation, so a proxy sees the same thing.
    `device` is where they are computed when not cached (default CPU)."""
    batch = data.calib.subset(STATS_BATCH, STATS_SEED)
    return collect_stats_cached(model, batch.x, batch.y, device=resolve_device(device))


def bench_stats(store: BenchStore, device: DeviceLike = None) -> list[LayerStats]:
    """Layer statistics of the benchmark's model on its fixed statistics batch (cached)."""
    meta = store.meta()
    model = load_model(meta["spec"]["model"], meta["spec"]["weights"])
    stats = model_stats(model, load_data(meta["data"]), device)
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


def bench_for_scoring(bench_path: str | Path, device: DeviceLike = None
                      ) -> tuple[BenchData, list[LayerStats]]:
    """A benchmark's measured configurations and its model's statistics, or TapqError if
    it holds too few configurations to judge a proxy on."""
    store = BenchStore(bench_path)
    try:
        data = load_bench_data(store)
        if len(data.accuracy) < 10:
            raise TapqError(f"{bench_path} has only {len(data.accuracy)} measured "
                            "configurations; finish building it first")
        return data, bench_stats(store, device)
    finally:
        store.close()


def evaluate_proxies(bench_path: str | Path, specs: list[str] | None = None,
                     device: DeviceLike = None) -> list[Fitness]:
    """Fitness of each proxy in `specs` (all built-ins if None) on benchmark `bench_path`;
    the statistics, if not cached, are computed on `device` (default CPU)."""
    proxies = [load_proxy(s) for s in (specs or list(BASELINE_PROXIES))]
    data, stats = bench_for_scoring(bench_path, device)
    for layer in stats:  # quantize once up front, so no proxy's time includes it
        for bits in data.bit_choices:
            layer.quant(bits)
    return [score_proxy(name, proxy, stats, data) for name, proxy in proxies]
