"""Ground truth: sampled configurations, PTQ-measured, stored in SQLite, with the noise
ceiling and the proxy ceilings from independent halves and seeds."""
from tapq.bench.analysis import (BenchData, bench_info, ceilings, load_bench_data, noise_ceiling,
                                 noise_ceiling_iso)
from tapq.bench.builder import BenchSpec, build_bench
from tapq.bench.reliability import BandCeiling, Ceiling
from tapq.bench.remeasure import Remeasured, remeasure_halves
from tapq.bench.store import DEFAULT_BENCH, BenchStore, default_bench_for

__all__ = ["DEFAULT_BENCH", "BandCeiling", "BenchData", "BenchSpec", "BenchStore", "Ceiling",
           "Remeasured", "bench_info", "build_bench", "ceilings", "default_bench_for",
           "load_bench_data", "noise_ceiling", "noise_ceiling_iso", "remeasure_halves"]
