"""Benchmark building on the local process pool vs on Ray, and Ray's start-up time.

Usage: python benchmarks/executor_throughput.py [--configs 60] [--workers 2] [--rounds 2]

1. Runs, back to back and alternating, `rounds` times each:
       tapq --quiet bench build --model mnist-cnn --configs 60 --ptq rtn --repeat 0
            --workers 2 [--executor ray]
   into temporary files, and reports measurements per second over the whole command
   (interpreter and Ray start-up included) and over the measuring phase alone. The local
   and Ray benchmarks must hold the same rows, bit for bit (checked; `identical`).
2. Evaluates `candidates` distinct proxy programs (each in its own sandbox, on the shipped
   benchmark's statistics) as `tapq discover` does: in this process one after another,
   on a local pool of `workers` and on a private Ray instance of `workers` CPUs; reports
   candidates per second (Ray start-up included) and checks the tables are identical.
3. Times, in fresh interpreters, `ray.init` of a private local instance, the first task
   (worker processes start) and `ray.shutdown`.
Prints the figures and writes benchmarks/results/executors.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import torch

STARTUP = """
import json, time
t0 = time.perf_counter()
import ray
t1 = time.perf_counter()
ray.init(address="local", num_cpus={workers}, include_dashboard=False, log_to_driver=False,
         logging_level="warning")
t2 = time.perf_counter()
ray.get(ray.remote(lambda: 1).remote())
t3 = time.perf_counter()
ray.shutdown()
t4 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "init_s": t2 - t1, "first_task_s": t3 - t2,
                  "shutdown_s": t4 - t3}}))
"""


def _build(args: argparse.Namespace, executor: str, folder: Path) -> dict:
    path = folder / f"{executor}-{time.monotonic_ns()}.db"
    command = [sys.executable, "-m", "tapq.cli", "--quiet", "bench", "build",
               "--model", "mnist-cnn", "--out", str(path), "--configs", str(args.configs),
               "--ptq", "rtn", "--repeat", "0", "--workers", str(args.workers),
               "--executor", executor]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT config_id, calib_seed, accuracy, loss, kl, accuracy_even, "
                          "accuracy_odd FROM results ORDER BY config_id, calib_seed").fetchall()
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    measuring = meta["finished"] - meta["started"]
    return {"executor": executor, "measurements": len(rows), "wall_s": wall,
            "configs_per_s": len(rows) / wall, "measuring_s": measuring,
            "measuring_configs_per_s": len(rows) / measuring, "rows": rows}


def _programs(count: int) -> list[str]:
    """Distinct, equally costly proxies: Fisher-weighted rounding error to a power."""
    return [f"""import torch

def sensitivity(layer, bits):
    delta = layer.quant(bits) - layer.weight
    return float((layer.fisher * delta ** 2).sum()) ** {1 + i / 100:.2f}
""" for i in range(count)]


def _candidates(count: int, workers: int) -> dict:
    from tapq.bench import DEFAULT_BENCH
    from tapq.sandbox import SandboxLimits, save_stats_for_sandbox
    from tapq.sandbox.job import SandboxJob
    from tapq.executors import make_executor
    from tapq.proxies import bench_for_scoring

    data, stats = bench_for_scoring(DEFAULT_BENCH)
    programs = _programs(count)
    results, tables = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        stats_file = Path(folder) / "stats.pt"
        save_stats_for_sandbox(stats, stats_file, data.bit_choices)
        job = SandboxJob.from_file(stats_file, data.bit_choices, SandboxLimits())
        for label, kind, n in (("serial", "local", 1), ("local", "local", workers),
                               ("ray", "ray", workers)):
            start = time.perf_counter()
            with make_executor(kind, n) as executor:
                out = dict(executor.map_unordered(job, programs, chunk=1))
            wall = time.perf_counter() - start
            assert all(r.status == "ok" for r in out.values()), [r.error for r in out.values()]
            tables[label] = [out[i].table.tolist() for i in range(count)]
            results[label] = {"workers": n, "wall_s": wall, "candidates_per_s": count / wall}
    return {"candidates": count, **results,
            "identical": all(t == tables["serial"] for t in tables.values()),
            "local_vs_serial": results["local"]["candidates_per_s"]
            / results["serial"]["candidates_per_s"],
            "ray_vs_local": results["ray"]["candidates_per_s"]
            / results["local"]["candidates_per_s"]}


def _startup(workers: int, repeats: int) -> dict:
    runs = [json.loads(subprocess.run([sys.executable, "-c", STARTUP.format(workers=workers)],
                                      check=True, capture_output=True, text=True)
                       .stdout.strip().splitlines()[-1]) for _ in range(repeats)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def _ray_install() -> dict:
    files = metadata.files("ray") or []
    size = sum(f.size or 0 for f in files)
    return {"ray_version": metadata.version("ray"), "ray_installed_mb": round(size / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=16,
                        help="proxy programs evaluated per executor (0: skip)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "executors.json"))
    args = parser.parse_args()
    builds = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for executor in ("local", "ray"):
                builds.append(_build(args, executor, Path(folder)))
    reference = builds[0].pop("rows")
    identical = all(b.pop("rows") == reference for b in builds[1:])

    def median(executor: str, key: str) -> float:
        return statistics.median(b[key] for b in builds if b["executor"] == executor)

    summary = {e: {k: median(e, k) for k in ("configs_per_s", "measuring_configs_per_s",
                                              "wall_s")} for e in ("local", "ray")}
    result = {"command": f"python benchmarks/executor_throughput.py --configs {args.configs} "
                         f"--workers {args.workers} --rounds {args.rounds} "
                         f"--candidates {args.candidates}",
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"torch {torch.__version__}",
              **_ray_install(), "identical": identical, "builds": builds,
              "median": summary,
              "ray_vs_local": summary["ray"]["configs_per_s"]
              / summary["local"]["configs_per_s"],
              "ray_vs_local_measuring": summary["ray"]["measuring_configs_per_s"]
              / summary["local"]["measuring_configs_per_s"],
              "candidate_evaluation": (_candidates(args.candidates, args.workers)
                                       if args.candidates else None),
              "ray_startup_median_of_3": _startup(args.workers, 3)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
