"""Every user-facing command on an ImageNet network, from a fresh process each: wall time,
CPU time and peak memory, plus what each printed that matters.

Usage: python benchmarks/imagenet_commands.py [--model efficientnet-lite1] [--only NAMES]

Each command is the CLI a user types (`python -m tapq.cli ...`, JSON output), run in its
own process under GNU time (`/usr/bin/time`), so CPU seconds and peak resident memory are
that command's alone (the peak is its largest process: the command itself, or a sandbox
worker it started). The statistics cache is emptied first, so `proxy stats` pays the full cost
and later commands reuse it as a user's second command would. The small `bench build`
here only shows that the command runs on this network (the shipped ImageNet benchmark is
built by its own command). Each row is printed as a Markdown table line and saved to
benchmarks/results/imagenet_commands_<model>.json as soon as it is measured (rows of
earlier runs that this one did not measure are kept), so a stopped run keeps its rows.
`--threads N` sets the commands' torch threads (OMP_NUM_THREADS): on a shared machine
one thread per command avoids OpenMP's busy-waiting inflating both wall and CPU time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands(model: str, folder: Path) -> dict[str, list[str]]:
    """name -> tapq arguments; the budget sits between uniform 4 and 8 bits."""
    bench = str(folder / "smoke.db")
    common = ["--model", model]
    choice = ["--bits", "4,6,8", "--ptq", "rtn", "--budget", "avg-bits=6"]
    return {
        "layers": ["layers", *common],  # the table ends with the BatchNorm fold line
        "proxy stats": ["proxy", "stats", *common, "--json"],
        "quantize W8": ["quantize", *common, "--bits", "8", "--ptq", "rtn", "--json"],
        "quantize W6": ["quantize", *common, "--bits", "6", "--ptq", "rtn", "--json"],
        "quantize W4": ["quantize", *common, "--bits", "4", "--ptq", "rtn", "--json"],
        "allocate --measure": ["allocate", *common, *choice, "--proxy", "fisher", "--measure",
                               "--json"],
        "compare": ["compare", *common, *choice, "--proxies", "fisher,hawq_v2,size", "--json"],
        "bench build (smoke)": ["bench", "build", *common, "--out", bench, "--configs", "24",
                                "--bits", "4,6,8", "--ptq", "rtn", "--repeat", "0",
                                "--eval-n", "64", "--target", "kl"],
        "proxy eval": ["proxy", "eval", "--bench", bench, "--proxy", "fisher", "--split",
                       "search", "--json"],
    }


def run(args: list[str], env: dict[str, str], folder: Path) -> dict:
    """One command in its own process: exit status, seconds, CPU seconds, peak RSS."""
    usage = folder / "usage.txt"
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", str(usage),
                           sys.executable, "-m", "tapq.cli", *args], env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    user, system, peak_kb = usage.read_text().split()[-3:]
    return {"args": args, "rc": done.returncode, "seconds": seconds,
            "cpu_seconds": float(user) + float(system), "peak_rss_gb": int(peak_kb) / 2**20,
            "stdout": done.stdout[-20000:], "stderr": done.stderr[-4000:]}


def summary(name: str, stdout: str) -> str:
    """The line of the table that says what the command found."""
    try:
        data = json.loads(stdout)
    except ValueError:
        return stdout.strip().splitlines()[-1][:120] if stdout.strip() else ""
    if name == "proxy stats":
        keys = ("layers", "images", "seconds", "hessian_trace_rse", "statistics")
        return json.dumps({k: data[k] for k in keys if k in data})[:200]
    if isinstance(data, list):
        data = data[0] if data else {}
    keys = ("agreement", "agreement_ci", "kl", "size_mb", "avg_bits", "spearman_iso",
            "proxy")
    return json.dumps({k: data[k] for k in keys if k in data})[:200]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet-lite1")
    parser.add_argument("--only", help="comma-separated command names")
    parser.add_argument("--threads", type=int, help="torch threads of each command")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tapq-imagenet-"))
    cache = folder / "cache"
    env = {**os.environ, "TAPQ_CACHE": str(cache), "PYTHONPATH": str(ROOT / "src")}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    out = ROOT / "benchmarks" / "results" / f"imagenet_commands_{args.model}.json"
    saved = json.loads(out.read_text()) if out.is_file() else {"rows": []}
    table = commands(args.model, folder)
    wanted = args.only.split(",") if args.only else list(table)
    rows = []
    print("| command | exit | wall s | CPU s | peak RSS GB | result |\n"
          "|---|---:|---:|---:|---:|---|")
    for name in wanted:
        row = run(table[name], env, folder)
        row["name"] = name
        row["threads"] = args.threads
        row["load_average"] = os.getloadavg()
        row["summary"] = summary(name, row["stdout"])
        rows.append(row)
        print(f"| `tapq {' '.join(row['args'])}` | {row['rc']} | {row['seconds']:.0f} | "
              f"{row['cpu_seconds']:.0f} | {row['peak_rss_gb']:.2f} | "
              f"{row['summary'] if row['rc'] == 0 else row['stderr'].strip()[-200:]} |",
              flush=True)
        kept = [r for r in saved["rows"] if r["name"] not in {r["name"] for r in rows}]
        out.write_text(json.dumps({"model": args.model, "machine": platform.platform(),
                                   "cpus": os.cpu_count(), "rows": kept + rows}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
