"""Ground-truth throughput and proxy-scoring speed.

Usage: python benchmarks/bench_throughput.py [--configs 120] [--ptq rtn]

1. Builds the same benchmark of the embedded default twice into temporary files, with 1
   and with 2 worker processes, and reports configurations measured per second (wall
   time of the whole build, start-up included, and of the measuring phase alone).
2. Times scoring one proxy over 1,000 configurations once its table is known: the
   gather-and-sum of S(c) plus every fitness figure (target <= 20 ms).
Prints the figures and writes benchmarks/results/bench_throughput.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tapq.bench import BenchSpec, build_bench
from tapq.progress import set_quiet
from tapq.proxies.fitness import config_scores, fitness


def _build(spec: BenchSpec, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        start = time.perf_counter()
        store = build_bench(spec, path, workers=workers)
        wall = time.perf_counter() - start
        rows = store.results()
        meta = store.meta()
        store.close()
    measuring = meta["finished"] - meta["started"]
    return {"workers": workers, "measurements": len(rows), "wall_s": wall,
            "configs_per_s": len(rows) / wall, "measuring_configs_per_s": len(rows) / measuring}


def _scoring_ms(repeats: int = 50) -> dict:
    rng = np.random.default_rng(0)
    bits = [2, 3, 4, 6, 8]
    table = rng.random((12, len(bits)))
    configs = rng.choice(bits, size=(1000, 12))
    accuracy, avg = rng.random(1000), configs.mean(1)
    is_val = np.arange(1000) % 5 == 0
    times_scores, times_total = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        scores = config_scores(table, bits, configs)
        mid = time.perf_counter()
        fitness("random", scores, accuracy, avg, is_val, 0.0)
        times_scores.append(mid - start)
        times_total.append(time.perf_counter() - start)
    return {"score_1000_configs_ms": 1000 * float(np.median(times_scores)),
            "score_and_fitness_1000_configs_ms": 1000 * float(np.median(times_total))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=120)
    parser.add_argument("--ptq", default="rtn", choices=("rtn", "adaround"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "bench_throughput.json"))
    args = parser.parse_args()
    set_quiet(True)
    spec = BenchSpec(model="mnist-cnn", configs=args.configs, ptq=args.ptq, repeat=0,
                     layer_sensitivity=False)
    result = {"command": f"python benchmarks/bench_throughput.py --configs {args.configs} "
                         f"--ptq {args.ptq}",
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
              "builds": [_build(spec, 1), _build(spec, 2)], **_scoring_ms()}
    result["speedup_2_workers"] = (result["builds"][1]["configs_per_s"]
                                   / result["builds"][0]["configs_per_s"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
