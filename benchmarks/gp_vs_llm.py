"""The symbolic baseline against the LLM: is the LLM's contribution measurable?

    python benchmarks/gp_vs_llm.py                      # 3 seeds, 4 + 4 LLM candidates each
    python benchmarks/gp_vs_llm.py --seeds 0 1 2 3 4 --population 6 --children 6

For every seed it runs, on the shipped benchmark (or --bench), with one sandbox worker each:
1. ``llm``: tapq discover with the LLM (default the embedded Qwen2.5-Coder-0.5B);
2. ``gp-evals``: tapq discover --search gp with the same population, children and
   generations, so the same number of candidates (evaluation slots);
3. ``gp-wall``: the GP with as many generations as fit in the LLM run's wall time.
``--methods`` runs a subset (e.g. the LLM runs in one process and the ``gp-wall`` runs,
which wait for each LLM run's wall time, in another); the table is printed once every run
is finished. Each run's best candidate is the one the search keeps (best on the search split); it is
reported on the search split and on the validation split the search never sees, and the
GP-minus-LLM differences are paired by seed with a percentile bootstrap interval
(scipy.stats.bootstrap, paired). Run folders are kept under --out and reused, so a killed
benchmark resumes. Writes --out/gp_vs_llm.json and prints the BENCHMARKS.md table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy import stats

from tapq.bench import DEFAULT_BENCH
from tapq.discover import (
    BEST_PROXY,
    DiscoverConfig,
    ExecutionConfig,
    LLMConfig,
    RunStore,
    SearchConfig,
    discover,
    fitness_check,
    summarize,
)
from tapq.discover.gp import GPConfig
from tapq.proxies import best_human

COMMAND = "python benchmarks/gp_vs_llm.py"
METHODS = ("llm", "gp-evals", "gp-wall")
GP_WALL_GENERATIONS = 10_000  # the wall-time budget, not this, ends a gp-wall run


def _config(args: argparse.Namespace, method: str, seed: int, wall: float | None
            ) -> DiscoverConfig:
    out = Path(args.out) / f"{method}-s{seed}"
    if method == "llm":
        search = SearchConfig(generations=args.generations, population=args.population,
                              children=args.children, seed=seed)
    else:
        search = SearchConfig(
            kind="gp", population=args.population, children=args.children, seed=seed,
            generations=args.generations if method == "gp-evals" else GP_WALL_GENERATIONS,
            gp=GPConfig(max_seconds=wall if method == "gp-wall" else None))
    return DiscoverConfig(bench=Path(args.bench), out=out, search=search,
                          llm=LLMConfig(spec=args.llm, threads=args.llm_threads),
                          execution=ExecutionConfig(workers=1))


def _run(config: DiscoverConfig) -> dict:
    """Run (or finish) one discovery; its kept best candidate on both splits. A finished
    run is only read (resuming it would add the reopening to its wall time)."""
    path = Path(config.out) / "run.db"
    if not _finished(path):
        discover(config, resume=path.is_file(), final_check=False)
    store = RunStore(path)
    try:
        records, summary, meta = store.candidates(), summarize(store), store.meta()
    finally:
        store.close()
    best = summary.best
    return {"out": str(config.out), "wall_seconds": meta["wall_seconds"],
            "candidates": len(records), "generations": len(summary.generations),
            "evaluated": sum(r.duplicate_of is None and r.code is not None for r in records),
            "valid": summary.valid,
            "search": best.fitness if best else float("nan"),
            "val": best.metrics.get("spearman_iso_val", float("nan")) if best else float("nan"),
            "best": best.thought if best else None,
            "best_proxy": str(Path(config.out) / BEST_PROXY)}


def _finished(path: Path) -> bool:
    if not path.is_file():
        return False
    store = RunStore(path)
    try:
        return "finished" in store.meta()
    finally:
        store.close()


def _llm_wall(args: argparse.Namespace, seed: int) -> float:
    """The finished LLM run's wall time (waits for another process to finish it)."""
    path = Path(args.out) / f"llm-s{seed}" / "run.db"
    while not _finished(path):
        time.sleep(20)
    store = RunStore(path)
    try:
        return float(store.meta()["wall_seconds"])
    finally:
        store.close()


def _interval(llm: list[float], gp: list[float]) -> list[float]:
    """Mean GP - LLM difference and its paired 95% percentile bootstrap interval."""
    a, b = np.asarray(llm), np.asarray(gp)
    mean = float(np.mean(b - a))
    if len(a) < 2 or np.ptp(b - a) == 0:
        return [mean, mean, mean]
    found = stats.bootstrap((a, b), lambda x, y, axis: np.mean(y - x, axis=axis),
                            paired=True, vectorized=True, method="percentile",
                            n_resamples=10_000, random_state=0)
    return [mean, float(found.confidence_interval.low), float(found.confidence_interval.high)]


def _table(report: dict) -> str:
    runs, human = report["runs"], report["human"]
    header = ("| search | candidates (evaluated) | wall s | best: search ρ iso "
              "| best: val ρ iso | Δ val vs LLM [95% CI] |")
    lines = [header, "|---|---|---|---|---|---|"]
    for method in METHODS:
        rows = [runs[str(s)][method] for s in report["seeds"]]
        delta = "" if method == "llm" else "{:+.3f} [{:+.3f}, {:+.3f}]".format(
            *report["delta_val"][method])
        lines.append(
            f"| {method} | {np.mean([r['candidates'] for r in rows]):.0f} "
            f"({np.mean([r['evaluated'] for r in rows]):.0f}) "
            f"| {np.mean([r['wall_seconds'] for r in rows]):.0f} "
            f"| {np.mean([r['search'] for r in rows]):.3f} "
            f"| {np.mean([r['val'] for r in rows]):.3f} | {delta} |")
    lines.append(f"| best human ({human['proxy']}) | - | - | {human['search']:.3f} "
                 f"| {human['val']:.3f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=str(DEFAULT_BENCH))
    parser.add_argument("--out", default="gp-vs-llm-runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--llm", default="embedded")
    parser.add_argument("--llm-threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    args = parser.parse_args()
    report = {"command": COMMAND, "args": vars(args), "seeds": args.seeds, "runs": {},
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "load_before": os.getloadavg()[0], "started": time.time()}
    for seed in args.seeds:
        for method in args.methods:
            wall = _llm_wall(args, seed) if method == "gp-wall" else None
            result = _run(_config(args, method, seed, wall))
            report["runs"].setdefault(str(seed), {})[method] = result
            print(json.dumps({"seed": seed, "method": method, "search": result["search"],
                              "val": result["val"], "candidates": result["candidates"],
                              "wall": result["wall_seconds"]}), flush=True)
    if set(args.methods) != set(METHODS):
        return
    first = report["runs"][str(args.seeds[0])]["llm"]["best_proxy"]
    human = best_human(fitness_check(args.bench, first)[1:])
    report["human"] = {"proxy": human.proxy, "search": human.spearman_iso,
                       "val": human.spearman_iso_val}
    llm_val = [report["runs"][str(s)]["llm"]["val"] for s in args.seeds]
    report["delta_val"] = {m: _interval(llm_val, [report["runs"][str(s)][m]["val"]
                                                  for s in args.seeds]) for m in METHODS[1:]}
    report["load_after"] = os.getloadavg()[0]
    out = Path(args.out) / "gp_vs_llm.json"
    out.write_text(json.dumps(report, indent=1))
    print(_table(report))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
