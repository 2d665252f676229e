"""Ground truth: sampled configurations, PTQ-measured, stored in SQLite, with noise ceiling."""
from tapq.bench.analysis import (BenchData, bench_info, load_bench_data, noise_ceiling,
                                 noise_ceiling_iso)
from tapq.bench.builder import BenchSpec, build_bench
from tapq.bench.store import DEFAULT_BENCH, BenchStore, default_bench_for

__all__ = ["BenchData", "BenchSpec", "BenchStore", "DEFAULT_BENCH", "bench_info", "build_bench",
           "default_bench_for", "load_bench_data", "noise_ceiling", "noise_ceiling_iso"]
