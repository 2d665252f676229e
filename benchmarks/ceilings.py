"""Proxy ceilings of benchmarks, per target, source and band, as Markdown (README, BENCHMARKS.md).

Usage: python benchmarks/ceilings.py [BENCH.db ...] [--targets accuracy,kl,agreement]

For each benchmark (default: the shipped mnist-cnn one) and each target it has
measurements of, prints the pooled iso ceiling (the most a proxy's iso-ρ can be against
one stored measurement) from independent halves, seeds and both, with 95% bootstrap
intervals, then the per-band ceilings of the benchmark's own target. Writes every number
to benchmarks/results/ceilings.json. See tapq.bench.reliability for the estimates.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from tapq.bench import DEFAULT_BENCH, BenchStore, bench_target, ceilings

SOURCES = ("halves", "seeds", "independent")


def _cell(entry, key: str = "") -> str:
    if entry is None:
        return "not measured"
    value, (low, high) = entry[f"ceiling{key}"], entry[f"ceiling{key}_ci"]
    return f"{value:.3f} [{low:.2f}, {high:.2f}] (n={entry['configs']})"


def report(path: Path, targets: list[str]) -> dict:
    """Print the Markdown tables of benchmark `path`; return its numbers."""
    store = BenchStore(path)
    try:
        own = bench_target(store.meta())
        found = {t: {s: c.to_dict() if c else None for s, c in ceilings(store, t).items()}
                 for t in targets}
    finally:
        store.close()
    print(f"\n`{path.name}` (its target: {own}); pooled iso ceiling [95% CI] (configurations)\n")
    print("| target | " + " | ".join(SOURCES) + " | plain (independent) |")
    print("|---|" + "---:|" * (len(SOURCES) + 1))
    for target, by_source in found.items():
        print(f"| {target} | " + " | ".join(_cell(by_source[s]) for s in SOURCES)
              + f" | {_cell(by_source['independent'], '_plain')} |")
    bands = {s: {tuple(b["avg_bits"]): b for b in (found.get(own, {}).get(s) or {"bands": []})
                 ["bands"]} for s in SOURCES}
    edges = sorted({e for by_edge in bands.values() for e in by_edge})
    print(f"\nper band, target {own}: ceiling [95% CI] (configurations)\n")
    print("| avg bits | " + " | ".join(SOURCES) + " |")
    print("|---|" + "---:|" * len(SOURCES))
    for edge in edges:
        print(f"| {edge[0]:.2f}–{edge[1]:.2f} | "
              + " | ".join(_cell(bands[s].get(edge)) for s in SOURCES) + " |")
    return {"target": own, "ceilings": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benches", nargs="*", type=Path, default=[DEFAULT_BENCH])
    parser.add_argument("--targets", default="accuracy,kl,agreement")
    args = parser.parse_args()
    results = {str(p): report(p, args.targets.split(",")) for p in args.benches}
    out = Path(__file__).parent / "results" / "ceilings.json"
    out.write_text(json.dumps({"machine": platform.platform(), "benches": results}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
