"""How large a test split must be for the paired 95% interval of delta iso-rho between
the two best human proxies to be at most +-0.05 (issue 16, item 3).

For each target the benchmark has, the two built-ins with the best iso-budget rho over
all its configurations are compared with the stratified paired bootstrap of
tapq.intervals, on every configuration and on the test split; the half-width shrinks as
1/sqrt(n), so the n that reaches 0.05 is extrapolated from the measured one.

    python benchmarks/test_split_size.py src/tapq/bench/data/mnist_cnn.db
"""
from __future__ import annotations

import sys
import time

import numpy as np

from tapq.bench import TARGETS, BenchStore, load_bench_data
from tapq.correlation import iso_budget_spearman
from tapq.errors import TapqError
from tapq.intervals import iso_intervals
from tapq.proxies import BASELINE_PROXIES, bench_stats, config_scores, load_proxy, table_of

TARGET_HALF_WIDTH = 0.05


def main(path: str) -> None:
    store = BenchStore(path)
    try:
        data = load_bench_data(store)
        start = time.perf_counter()
        stats = bench_stats(store)
    finally:
        store.close()
    print(f"{path}: {len(data.avg_bits)} configurations; statistics "
          f"{time.perf_counter() - start:.0f} s")
    scores = {}
    for name in BASELINE_PROXIES:
        proxy = load_proxy(name)[1]
        table = table_of(proxy, stats, data.bit_choices)
        scores[name] = config_scores(table, data.bit_choices, data.bits)
    names = list(scores)
    matrix = np.stack([scores[n] for n in names])
    for target in TARGETS:
        try:
            d = data.with_target(target)
        except TapqError as error:
            print(f"{target}: {error}")
            continue
        iso = [iso_budget_spearman(s, d.values, d.avg_bits) for s in matrix]
        first, second = np.argsort(iso)[::-1][:2]
        for split in ("all", "test"):
            mask = np.ones(len(d.avg_bits), bool) if split == "all" else d.in_split("test")
            found = iso_intervals(matrix[[first, second]][:, mask], d.values[mask],
                                  d.avg_bits[mask], reference=0)
            low, high = found.delta_ci[1]
            half = (high - low) / 2
            need = (int(np.ceil(mask.sum() * (half / TARGET_HALF_WIDTH) ** 2))
                    if np.isfinite(half) else None)
            print(f"{target:9s} {split:4s} n={int(mask.sum()):4d}  {names[first]} "
                  f"{found.rho[0]:.3f} [{found.rho_ci[0][0]:.3f}, {found.rho_ci[0][1]:.3f}]  "
                  f"{names[second]} {found.rho[1]:.3f}  delta {found.delta[1]:+.3f} "
                  f"[{low:+.3f}, {high:+.3f}]  half-width {half:.3f}  "
                  f"n for +-{TARGET_HALF_WIDTH}: {need}")


if __name__ == "__main__":
    main(sys.argv[1])
