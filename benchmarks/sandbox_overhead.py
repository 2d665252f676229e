"""Milliseconds per candidate in the sandbox: this tree against an earlier revision, one run.

Usage: python benchmarks/sandbox_overhead.py [--baseline 4eec053] [--rounds 6] [--per-round 4]

The earlier revision's ``src`` is extracted with ``git archive`` into a temporary folder.
Rounds alternate (baseline, current, baseline, ...), each a fresh process that scores
`--per-round` candidates (one trivial, one ordinary proxy, in turn) on the digits-cnn
statistics, so both sides see the same machine load. Reports per side the mean wall time
per candidate, the paired difference with a 95% bootstrap interval (over rounds), the
boundary's own cost inside the worker (this tree reports it) and the isolation probe.
Writes benchmarks/results/sandbox_overhead.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = [
    "def sensitivity(layer, bits):\n    return float(layer.num_params) * (8 - bits)\n",
    ("import torch\n\ndef sensitivity(layer, bits):\n"
     "    return float(((layer.weight - layer.quant(bits)) ** 2).sum() * layer.hessian_trace)\n"),
]
ROUND = """
import json, sys, time
from tapq.sandbox import Sandbox
box = Sandbox(sys.argv[1], [2, 4, 8])
candidates, n = json.loads(sys.argv[2]), int(sys.argv[3])
rows = []
for i in range(n):
    result = box.table(candidates[i % len(candidates)])
    assert result.status == "ok", result.error
    boundary = getattr(getattr(result, "isolation", None), "seconds", float("nan"))
    rows.append([result.seconds, result.startup_seconds, boundary])
print(json.dumps(rows))
"""


def _round(src: Path, stats: Path, n: int) -> list[list[float]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", ROUND, str(stats), json.dumps(CANDIDATES),
                           str(n)], env=env, capture_output=True, text=True, check=True,
                          cwd=tempfile.gettempdir())
    return json.loads(done.stdout.strip().splitlines()[-1])


def _interval(diffs: np.ndarray) -> tuple[float, float]:
    from scipy.stats import bootstrap

    if len(diffs) < 3:
        return float("nan"), float("nan")
    found = bootstrap((diffs,), np.mean, n_resamples=5000, random_state=0)
    return found.confidence_interval.low, found.confidence_interval.high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="4eec053", help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=4)
    args = parser.parse_args()
    from tapq.data import load_data
    from tapq.models import load_model
    from tapq.proxies import model_stats
    from tapq.sandbox import probe_isolation, save_stats_for_sandbox

    with tempfile.TemporaryDirectory(prefix="tapq-overhead-") as folder:
        folder = Path(folder)
        archive = subprocess.run(["git", "archive", args.baseline, "src"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        stats = folder / "stats.pt"
        save_stats_for_sandbox(model_stats(load_model("digits-cnn"), load_data("digits")),
                               stats, [2, 4, 8])
        sides = {"baseline": folder / "src", "current": ROOT / "src"}
        per_round: dict[str, list[float]] = {k: [] for k in sides}
        boundary: list[float] = []
        for _ in range(args.rounds):
            for side, src in sides.items():
                rows = np.array(_round(src, stats, args.per_round))
                per_round[side].append(float(rows[:, 0].mean()))
                if side == "current":
                    boundary += rows[:, 2].tolist()
        start = time.perf_counter()
        probe_isolation.cache_clear()
        isolation = probe_isolation()
        probe_ms = (time.perf_counter() - start) * 1000
    base, cur = (np.array(per_round[k]) for k in ("baseline", "current"))
    diff = (cur - base) * 1000
    low, high = _interval(diff)
    result = {
        "baseline": args.baseline, "rounds": args.rounds, "per_round": args.per_round,
        "baseline_ms_per_candidate": float(base.mean() * 1000),
        "current_ms_per_candidate": float(cur.mean() * 1000),
        "difference_ms": float(diff.mean()), "difference_ci95_ms": [low, high],
        "boundary_ms_in_worker_median": float(np.median(boundary) * 1000),
        "probe_ms": probe_ms, "isolation": isolation.describe(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"load average {os.getloadavg()[0]:.1f} at the end"}
    print(json.dumps(result, indent=1))
    out = ROOT / "benchmarks" / "results" / "sandbox_overhead.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
