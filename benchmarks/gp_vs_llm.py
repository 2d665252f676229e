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
is finished. Each run's kept candidate is its answer: the best novel one (seeds and copies excluded);
it is reported on the search split and on the test split no search reads, with whether its table ranks like a seed's (a human
baseline or a hint's starting body: Spearman >= 0.999 over all cells). GP-minus-LLM
differences on the test split carry two intervals: per seed, a paired bootstrap over the
test configurations (tapq.intervals.iso_intervals); over seeds, a paired percentile bootstrap
(scipy.stats.bootstrap) of the per-seed differences. Run folders are kept under --out and reused, so a killed
benchmark resumes. Writes --out/gp_vs_llm.json and benchmarks/results/gp_vs_llm.json and
prints the BENCHMARKS.md table.
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
    CandidateRecord,
    DiscoverConfig,
    ExecutionConfig,
    LLMConfig,
    RunStore,
    SearchConfig,
    discover,
)
from tapq.discover.gp import GPConfig
from tapq.discover.novelty import NoveltyIndex
from tapq.discover.prompting import load_hints
from tapq.discover.results import summarize
from tapq.discover.seeds import hint_program
from tapq.intervals import iso_intervals
from tapq.proxies import (
    BASELINE_PROXIES,
    bench_for_scoring,
    best_human,
    config_scores,
    fitness,
    human_scores,
    proxy_table,
)

COMMAND = "python benchmarks/gp_vs_llm.py"
RESULTS = Path(__file__).parent / "results"
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


def _run(config: DiscoverConfig) -> None:
    """Run (or finish) one discovery; a finished run is left alone (resuming it would add
    the reopening to its wall time)."""
    path = Path(config.out) / "run.db"
    if not _finished(path):
        discover(config, resume=path.is_file(), final_check=False)


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


# ------------------------------------------------------------------------- analysis
def _seed_tables(stats, bit_choices) -> dict[str, np.ndarray]:
    """Every human baseline's and hint body's table: what a copy would rank like."""
    tables = {f"baseline:{n}": np.asarray(proxy_table(stats, p, bit_choices))
              for n, p in BASELINE_PROXIES.items()}
    for hint in load_hints():
        namespace: dict = {}
        exec(compile(hint_program(hint), "<hint>", "exec"), namespace)  # noqa: S102 (ours)
        function = namespace["sensitivity"]
        tables[f"hint:{hint}"] = np.array([[float(function(layer, b)) for b in bit_choices]
                                           for layer in stats])
    return {k: t for k, t in tables.items() if np.isfinite(t).all()}


def _kept(path: Path) -> tuple[CandidateRecord | None, dict]:
    """The run's own answer (its best novel candidate, as `tapq discover` reports it:
    seeds and copies of them never) and the run's counts and wall time."""
    store = RunStore(path)
    try:
        summary = summarize(store)
        records = [r for r in store.candidates() if not r.is_seed]
        meta = store.meta()
    finally:
        store.close()
    return summary.best, {
        "candidates": summary.candidates, "valid": summary.valid, "novel": summary.novel,
        "evaluated": sum(r.duplicate_of is None and r.code is not None for r in records),
        "generations": 1 + max((r.generation for r in records), default=-1),
        "wall_seconds": meta.get("wall_seconds", float("nan"))}


def analyse(args: argparse.Namespace) -> dict:
    """Each run's kept candidate on the search split and on the test split, whether it is a copy of a seed, and every
    GP-minus-LLM difference on the test split: per seed with a paired bootstrap over the test
    configurations (tapq.intervals), and over seeds with a paired bootstrap."""
    data, stats = bench_for_scoring(args.bench)
    seeds = NoveltyIndex()
    names = list(_seed_tables(stats, data.bit_choices).items())
    for i, (_, table) in enumerate(names):
        seeds.add(i, table)
    humans = human_scores(stats, data)
    human = best_human(fitness(n, sc, data, 0.0) for n, sc in humans.items()).proxy
    held = data.in_split("test")

    def intervals(rows: list[np.ndarray], reference: int = 0):
        return iso_intervals(np.stack([r[held] for r in rows]), data.values[held],
                             data.avg_bits[held], reference=reference)

    report = {"command": COMMAND, "args": vars(args), "seeds": args.seeds, "runs": {},
              "test_configs": int(held.sum()), "machine": f"{platform.machine()}, "
              f"{os.cpu_count()} CPUs"}
    for seed in args.seeds:
        rows, runs = [], {}
        for method in METHODS:
            kept, facts = _kept(Path(args.out) / f"{method}-s{seed}" / "run.db")
            if kept is None:
                raise SystemExit(f"{method}-s{seed} has no novel valid candidate")
            rows.append(config_scores(np.asarray(kept.table), data.bit_choices, data.bits))
            copy = seeds.copy_of(np.asarray(kept.table))
            runs[method] = {**facts, "kept": kept.id, "thought": kept.thought,
                            "search": kept.fitness,
                            "copy_of_seed": None if copy is None else names[copy][0]}
        found = intervals(rows + [humans[human]])
        against_human = intervals(rows + [humans[human]], reference=len(rows))
        for i, method in enumerate(METHODS):
            runs[method].update(test=float(found.rho[i]),
                                test_ci=found.rho_ci[i].tolist(),
                                delta_vs_llm=float(found.delta[i]),
                                delta_vs_llm_ci=found.delta_ci[i].tolist(),
                                delta_vs_human=float(against_human.delta[i]),
                                delta_vs_human_ci=against_human.delta_ci[i].tolist())
        report["runs"][str(seed)] = runs
    found = intervals([humans[human]])
    report["human"] = {"proxy": human, "search": fitness(human, humans[human], data,
                                                         0.0).spearman_iso,
                       "test": float(found.rho[0]), "test_ci": found.rho_ci[0].tolist()}
    llm = [report["runs"][str(s)]["llm"]["test"] for s in args.seeds]
    report["delta_over_seeds"] = {
        m: _interval(llm, [report["runs"][str(s)][m]["test"] for s in args.seeds])
        for m in METHODS[1:]}
    return report


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
    runs, human, seeds = report["runs"], report["human"], report["seeds"]
    lines = [("| search | candidates (evaluated, novel), mean | wall s, mean | kept: ρ iso search "
              "| test | kept is a seed copy | Δ test vs LLM over seeds [95% CI] |"),
             "|---|---|---|---|---|---|---|"]
    for method in METHODS:
        rows = [runs[str(s)][method] for s in seeds]
        delta = "" if method == "llm" else "{:+.3f} [{:+.3f}, {:+.3f}]".format(
            *report["delta_over_seeds"][method])
        copies = sum(r["copy_of_seed"] is not None for r in rows)
        lines.append(
            f"| {method} | {np.mean([r['candidates'] for r in rows]):.0f} "
            f"({np.mean([r['evaluated'] for r in rows]):.0f}, "
            f"{np.mean([r['novel'] for r in rows]):.0f}) "
            f"| {np.mean([r['wall_seconds'] for r in rows]):.0f} "
            f"| {np.mean([r['search'] for r in rows]):.3f} "
            f"| {np.mean([r['test'] for r in rows]):.3f} "
            f"| {copies} of {len(rows)} | {delta} |")
    lines.append(f"| best human ({human['proxy']}) | - | - | {human['search']:.3f} | "
                 f"{human['test']:.3f} | - | |")
    lines += ["", "| seed | " + " | ".join(f"{m}: test ρ iso [95% CI]" for m in METHODS)
              + " | gp-evals − llm | gp-wall − llm | each − best human |",
              "|---|" + "---|" * (len(METHODS) + 3)]
    for s in seeds:
        r = runs[str(s)]
        cells = [f"{r[m]['test']:.3f} [{r[m]['test_ci'][0]:.2f}, "
                 f"{r[m]['test_ci'][1]:.2f}]"
                 + (" (seed copy)" if r[m]["copy_of_seed"] else "") for m in METHODS]
        deltas = ["{:+.3f} [{:+.3f}, {:+.3f}]".format(r[m]["delta_vs_llm"],
                                                      *r[m]["delta_vs_llm_ci"])
                  for m in METHODS[1:]]
        human_deltas = " / ".join("{:+.3f} [{:+.3f}, {:+.3f}]".format(
            r[m]["delta_vs_human"], *r[m]["delta_vs_human_ci"]) for m in METHODS)
        lines.append(f"| {s} | " + " | ".join(cells + deltas + [human_deltas]) + " |")
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
    for seed in args.seeds:
        for method in args.methods:
            wall = _llm_wall(args, seed) if method == "gp-wall" else None
            _run(_config(args, method, seed, wall))
            print(f"finished {method}-s{seed}", flush=True)
    if set(args.methods) != set(METHODS):
        return
    report = analyse(args)
    text = json.dumps(report, indent=1) + "\n"
    (Path(args.out) / "gp_vs_llm.json").write_text(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gp_vs_llm.json").write_text(text)
    print(_table(report))
    print(f"written: {Path(args.out) / 'gp_vs_llm.json'} and {RESULTS / 'gp_vs_llm.json'}")


if __name__ == "__main__":
    main()
