"""Ground truth: sampled configurations, PTQ-measured, stored in SQLite, with noise ceiling."""
from tapq.bench.analysis import bench_info, noise_ceiling, noise_ceiling_iso
from tapq.bench.builder import BenchSpec, build_bench
from tapq.bench.ground_truth import (SPLITS, TARGETS, BenchData, assign_splits, bench_target,
                                     check_target, load_bench_data)
from tapq.bench.importer import import_bench, read_ground_truth
from tapq.bench.store import DEFAULT_BENCH, BenchStore, default_bench_for

__all__ = ["BenchData", "BenchSpec", "BenchStore", "DEFAULT_BENCH", "SPLITS", "TARGETS",
           "assign_splits", "bench_info", "bench_target", "build_bench", "check_target",
           "default_bench_for", "import_bench", "read_ground_truth", "load_bench_data", "noise_ceiling", "noise_ceiling_iso"]
