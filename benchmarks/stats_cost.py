"""Time and peak memory of each layer statistic, today's code against an older checkout.

Usage:
    python benchmarks/stats_cost.py --model digits-cnn [--n 128 --probes 16 --power-iters 20]
    python benchmarks/stats_cost.py --model efficientnet-lite1          # defaults by size
    python benchmarks/stats_cost.py --model digits-cnn --old-src /tmp/tapq-before/src
    python benchmarks/stats_cost.py --model mnist-cnn --stats none,patches,act_range,ptq,delta_loss \
        --ptq adaround --bits 2,3,4,6,8 --tag _richer       # the shipped benchmark's PTQ

Wall and CPU seconds (user + system of the statistic alone) are both kept: on a shared
machine the wall time measures the neighbours too, the CPU time much less so.
Every statistic runs alone in a fresh process (so its peak resident memory is its own:
model, data and that statistic), on `--threads` threads; "load" is the same process with
no statistic, the floor under every other row. With ``--old-src`` (a ``src`` folder of an
earlier tapq, e.g. ``git archive <commit> src | tar -x -C /tmp/tapq-before``) the same is
measured for that code, which computes every statistic in one call: its phases are timed
by wrapping its helper functions, and its peak memory is the whole call's. Label-free data
gets the full-precision model's top-1 as labels for the old code (it needs labels).
Writes benchmarks/results/stats_cost_<model>.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

STATISTICS = ("grad", "act", "hessian_trace", "hessian_eig", "fisher", "synflow")
# The richer statistics of issue 17 (`--stats none,patches,act_range,ptq,delta_loss`):
# "none" computes no statistic, only what is always there (BN folding, network context).
RICHER = ("none", "patches", "act_range", "ptq", "delta_loss")
RESULTS = Path(__file__).parent / "results"

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
job = json.loads(sys.argv[2])
from tapq.progress import set_quiet
set_quiet(True)
from tapq.models import load_model_and_data
model, data = load_model_and_data(job["model"])
batch = data.calib.subset(job["n"], 0)
x, y = batch.x, batch.y
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
out = {"load_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
cpu_start = cpu()
if job["mode"] == "old":
    from tapq.proxies import stats as old
    if y is None:
        with torch.no_grad():
            y = model(x).argmax(1)
    phases = {"_hutchinson": "hessian_trace", "_power_iteration": "hessian_eig",
              "_fisher": "fisher", "_synflow": "synflow"}
    spent = {v: 0.0 for v in phases.values()}
    def timed(fn, key):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t
        return wrapper
    for name, key in phases.items():
        setattr(old, name, timed(getattr(old, name), key))
    start = time.perf_counter()
    stats = old.collect_stats(model, x, y, hutchinson_samples=job["probes"],
                              power_iters=job["power_iters"])
    out["seconds"] = time.perf_counter() - start
    out["phases"] = spent
elif job["statistic"] != "load":
    from tapq.proxies import collect_stats
    start = time.perf_counter()
    chosen = () if job["statistic"] == "none" else (job["statistic"],)
    stats = collect_stats(model, x, y, hutchinson_samples=job["probes"],
                          power_iters=job["power_iters"], statistics=chosen,
                          bits=tuple(job["bits"]), ptq={"weight_rounding": job["ptq"]},
                          ptq_calib=data.calib.x)
    out["seconds"] = time.perf_counter() - start
    if job["statistic"] == "hessian_trace":
        import math
        total = sum(s.hessian_trace for s in stats)
        out["trace_rse"] = math.sqrt(sum(s.hessian_trace_se ** 2 for s in stats)) / abs(total)
out["cpu_seconds"] = cpu() - cpu_start
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(out))
"""


def run_child(src: str, threads: int, job: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": src, "TAPQ_CACHE": os.environ.get("TAPQ_CACHE", "")}
    env = {k: v for k, v in env.items() if v != ""}
    done = subprocess.run([sys.executable, "-c", CHILD, str(threads), json.dumps(job)],
                          capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise SystemExit(f"child failed for {job}:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--n", type=int, help="images (default: by model size)")
    parser.add_argument("--probes", type=int, help="Hutchinson probes (default: by size)")
    parser.add_argument("--power-iters", type=int, help="power iterations (default: by size)")
    parser.add_argument("--stats", default=",".join(STATISTICS),
                        help="statistics to time (comma-separated)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ptq", default="adaround", choices=("rtn", "adaround"),
                        help="PTQ method of the ptq and delta_loss statistics")
    parser.add_argument("--bits", default="2,3,4,6,8",
                        help="bit-widths of the ptq and delta_loss statistics")
    parser.add_argument("--tag", default="", help="suffix of the results file's name")
    parser.add_argument("--old-src", help="src folder of an earlier tapq to measure too")
    parser.add_argument("--old-n", type=int, help="images for the old code (default --n)")
    parser.add_argument("--old-probes", type=int, help="probes for the old code")
    parser.add_argument("--old-power-iters", type=int, help="power iterations, old code")
    args = parser.parse_args()

    src = str(Path(__file__).resolve().parent.parent / "src")
    sys.path.insert(0, src)
    from tapq.models import load_model
    from tapq.proxies import StatsConfig

    size = sum(p.numel() for p in load_model(args.model).parameters())
    config = StatsConfig(args.n, args.probes, args.power_iters).resolved(size)
    power_iters = args.power_iters if args.power_iters is not None else 20
    job = {"model": args.model, "n": config.n, "probes": config.hutchinson_probes,
           "power_iters": config.power_iters or power_iters, "mode": "new", "ptq": args.ptq,
           "bits": [int(b) for b in args.bits.split(",")]}
    rows = {"load": run_child(src, args.threads, {**job, "statistic": "load"})}
    for statistic in filter(None, args.stats.split(",")):  # --stats "": the old code only
        rows[statistic] = run_child(src, args.threads, {**job, "statistic": statistic})
        print(statistic, rows[statistic], flush=True)
    result = {"model": args.model, "num_params": size, "settings": job, "new": rows,
              "threads": args.threads, "machine": platform.platform(),
              "load_average": os.getloadavg(), "when": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                    time.gmtime())}
    if args.old_src:
        old = {**job, "mode": "old", "statistic": "all",
               "n": args.old_n or job["n"], "probes": args.old_probes or job["probes"],
               "power_iters": args.old_power_iters or job["power_iters"]}
        result["old"] = {"settings": old, **run_child(args.old_src, args.threads, old)}
        print("old", result["old"], flush=True)
    result["load_average_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"stats_cost_{args.model}{args.tag}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
