"""Ground truth: sampled configurations, PTQ-measured, stored in SQLite, with noise ceiling."""
from tapq.bench.analysis import BenchData, bench_info, load_bench_data, noise_ceiling
from tapq.bench.builder import BenchSpec, build_bench
from tapq.bench.store import DEFAULT_BENCH, BenchStore

__all__ = ["BenchData", "BenchSpec", "BenchStore", "DEFAULT_BENCH", "bench_info", "build_bench",
           "load_bench_data", "noise_ceiling"]
