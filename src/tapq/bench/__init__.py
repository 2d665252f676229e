"""Ground truth: sampled configurations, PTQ-measured, stored in SQLite, with the noise
ceiling and the proxy ceilings from independent halves and seeds; targets and splits."""
from tapq.bench.analysis import bench_info, ceilings, noise_ceiling, noise_ceiling_iso
from tapq.bench.builder import BenchSpec, build_bench
from tapq.bench.ground_truth import (SPLITS, TARGETS, BenchData, assign_splits, bench_target,
                                     check_target, load_bench_data)
from tapq.bench.importer import import_bench, read_ground_truth
from tapq.bench.reliability import BandCeiling, Ceiling
from tapq.bench.remeasure import Remeasured, remeasure_halves
from tapq.bench.store import (DEFAULT_BENCH, BenchStore, default_bench_for, resolve_bench,
                              shipped_benches)

__all__ = ["DEFAULT_BENCH", "SPLITS", "TARGETS", "BandCeiling", "BenchData", "BenchSpec",
           "BenchStore", "Ceiling", "Remeasured", "assign_splits", "bench_info", "bench_target",
           "build_bench", "ceilings", "check_target", "default_bench_for", "import_bench",
           "load_bench_data", "noise_ceiling", "noise_ceiling_iso", "read_ground_truth",
           "remeasure_halves"]
