"""Which offline LLM writes proxies worth having? The embedded models with tapq's prompts.

    python benchmarks/llm_writers.py                          # 0.5B and 1.5B, demo preset
    python benchmarks/llm_writers.py --preset tap --bench efficientnet-lite1 \
        --stats +delta_loss --threads 2 --workers 2

Issue 17, item 7: the opt-in Qwen2.5-Coder-1.5B writes runnable code several times as
often as the default 0.5B on a *bare* prompt; what counts is what each writes with tapq's
own teaching prompts. For every ``--llm`` (run one after another, the same benchmark,
preset, seed and ``--stats``, ``--workers`` sandbox workers, ``--threads`` LLM threads)
it runs ``tapq discover`` and reads the run's store: candidates, valid, novel (valid and
ranking unlike every seed and earlier candidate), the novel-valid share, LLM seconds and
tokens, wall seconds per novel valid candidate, and the run's best novel proxy on the
benchmark's **test** split beside the best human proxy (chosen on the search split), with
the paired stratified bootstrap interval of the difference (tapq.intervals.iso_intervals).

A finished run folder under --out is only read, so the command prints the table again.
Writes benchmarks/results/llm_writers.json (elsewhere with --results).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
from pathlib import Path

import numpy as np

from tapq.bench import DEFAULT_BENCH, resolve_bench
from tapq.discover import (
    DiscoverConfig,
    ExecutionConfig,
    LLMConfig,
    RunStore,
    SearchConfig,
    discover,
)
from tapq.discover.presets import preset
from tapq.discover.results import select_fitness, summarize
from tapq.intervals import iso_intervals, verdict
from tapq.proxies import (
    bench_for_scoring,
    best_human,
    config_scores,
    fitness,
    human_scores,
)

RESULTS = Path(__file__).parent / "results"
# The opt-in statistics (tapq discover --stats +ptq,delta_loss): does a writer read them?
OPT_IN_FIELDS = (".delta_kl", ".delta_loss", ".ptq_quant")


def _folder(args: argparse.Namespace, llm: str) -> Path:
    return Path(args.out) / llm.replace(":", "-").replace("/", "_")


def _run(args: argparse.Namespace, llm: str) -> Path:
    """Run (or finish) the discovery with `llm`; a finished run is only read."""
    budget = preset(args.preset)
    out = _folder(args, llm)
    database = out / "run.db"
    finished = False
    if database.is_file():
        store = RunStore(database)
        try:
            finished = "finished" in store.meta()
        finally:
            store.close()
    if not finished:
        config = DiscoverConfig(
            bench=resolve_bench(args.bench), out=out,
            search=SearchConfig(generations=budget.generations, population=budget.population,
                                children=budget.children, seed=args.seed),
            llm=LLMConfig(spec=llm, threads=args.threads), stats=args.stats,
            execution=ExecutionConfig(workers=args.workers))
        discover(config, resume=database.is_file(), final_check=False)
    return database


def _row(database: Path, llm: str, data, human: np.ndarray, test: np.ndarray) -> dict:
    store = RunStore(database)
    try:
        summary = summarize(store)
        meta = store.meta()
        written = [r for r in store.candidates() if not r.is_seed and r.code]
    finally:
        store.close()
    wall = float(meta.get("wall_seconds", math.nan))
    row = {"llm": llm, "candidates": summary.candidates, "valid": summary.valid,
           "novel": summary.novel, "copies": summary.copies,
           "novel_share": summary.novel / max(summary.candidates, 1),
           "wall_seconds": wall, "llm_seconds": summary.llm_seconds,
           "eval_seconds": summary.eval_seconds,
           "prompt_tokens": summary.prompt_tokens,
           "completion_tokens": summary.completion_tokens,
           "seconds_per_novel": wall / summary.novel if summary.novel else None,
           "read_opt_in": sum(any(f in r.code for f in OPT_IN_FIELDS) for r in written),
           "best_novel": None}
    best = summary.best
    if best is not None and best.table is not None:
        scores = config_scores(np.asarray(best.table), data.bit_choices, data.bits)
        found = iso_intervals(np.stack([human[test], scores[test]]),
                              data.values[test], data.avg_bits[test], reference=0)
        seed = summary.best_seed
        seed_scores = config_scores(np.asarray(seed.table), data.bit_choices, data.bits)
        against_seed = iso_intervals(np.stack([seed_scores[test], scores[test]]),
                                     data.values[test], data.avg_bits[test], reference=0)
        row["best_novel"] = {
            "id": best.id, "thought": best.thought, "search": best.fitness,
            "select": select_fitness(best),
            "test": float(found.rho[1]), "test_ci": found.rho_ci[1].tolist(),
            "delta_vs_human": float(found.delta[1]), "delta_ci": found.delta_ci[1].tolist(),
            "verdict": verdict(tuple(found.delta_ci[1])),
            "best_seed": f"{seed.hint} (search {seed.fitness:.3f})",
            "delta_vs_best_seed": float(against_seed.delta[1]),
            "delta_vs_best_seed_ci": against_seed.delta_ci[1].tolist(),
            "verdict_vs_best_seed": verdict(tuple(against_seed.delta_ci[1]))}
    return row



def analyse(args: argparse.Namespace, databases: dict[str, Path]) -> dict:
    data, stats = bench_for_scoring(resolve_bench(args.bench))
    humans = human_scores(stats, data)
    human = best_human(fitness(n, s, data, 0.0) for n, s in humans.items()).proxy
    test = data.in_split("test")
    found = iso_intervals(humans[human][test][None], data.values[test], data.avg_bits[test])
    return {"command": "python benchmarks/llm_writers.py", "args": vars(args),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "human": {"proxy": human, "test": float(found.rho[0]),
                      "test_ci": found.rho_ci[0].tolist()},
            "rows": [_row(db, llm, data, humans[human], test) for llm, db in databases.items()]}


def _table(report: dict) -> str:
    human = report["human"]
    lines = [("| LLM | candidates | valid | novel (share) | read an opt-in field | wall s "
              "| LLM s | tokens in / out | wall s per novel "
              "| best novel: search / select / test [95% CI] "
              f"| Δ vs {human['proxy']}, test [95% CI] | Δ vs the run's best seed, test |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in report["rows"]:
        per = f"{r['seconds_per_novel']:.0f}" if r["seconds_per_novel"] else "–"
        b = r["best_novel"]
        best = delta = seed = "none"
        if b:
            best = (f"{b['search']:.3f} / {b['select']:.3f} / {b['test']:.3f} "
                    f"[{b['test_ci'][0]:.3f}, {b['test_ci'][1]:.3f}]")
            delta = (f"{b['delta_vs_human']:+.3f} [{b['delta_ci'][0]:+.3f}, "
                     f"{b['delta_ci'][1]:+.3f}] {b['verdict']}")
            seed = (f"{b['delta_vs_best_seed']:+.3f} [{b['delta_vs_best_seed_ci'][0]:+.3f}, "
                    f"{b['delta_vs_best_seed_ci'][1]:+.3f}] {b['verdict_vs_best_seed']} "
                    f"{b['best_seed']}")
        lines.append(f"| {r['llm']} | {r['candidates']} | {r['valid']} | {r['novel']} "
                     f"({r['novel_share']:.0%}) | {r['read_opt_in']} | {r['wall_seconds']:.0f} "
                     f"| {r['llm_seconds']:.0f} | {r['prompt_tokens']:,} / "
                     f"{r['completion_tokens']:,} | {per} | {best} | {delta} | {seed} |")
    lines.append(f"| best human ({human['proxy']}) | | | | | | | | | test {human['test']:.3f} "
                 f"[{human['test_ci'][0]:.3f}, {human['test_ci'][1]:.3f}] | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=str(DEFAULT_BENCH))
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--llm", nargs="+", default=["embedded", "embedded:1.5b"])
    parser.add_argument("--threads", type=int, default=1, help="LLM threads")
    parser.add_argument("--workers", type=int, default=1, help="sandbox workers")
    parser.add_argument("--stats", default=None,
                        help="the statistics offered, as tapq discover --stats takes them")
    parser.add_argument("--out", default="llm-writers-runs")
    parser.add_argument("--results", default=str(RESULTS / "llm_writers.json"),
                        help="where the figures are written (default: the shipped ones)")
    args = parser.parse_args()
    databases = {}
    for llm in args.llm:
        databases[llm] = _run(args, llm)
        print(f"finished {llm}", flush=True)
    report = analyse(args, databases)
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=1) + "\n")
    print(_table(report))


if __name__ == "__main__":
    main()
