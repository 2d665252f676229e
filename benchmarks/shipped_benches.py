"""The table of every shipped benchmark: size, target, ceilings and the two best human
proxies on the test split with the paired interval between them (issue 16, Done-when).

For each benchmark `tapq bench list` shows, it prints (and saves to
benchmarks/results/shipped_benches.json) what the README's and BENCHMARKS.md's benchmark
tables hold:

- configurations and splits, the primary target;
- the pooled within-band proxy ceiling [95% CI] from independent evaluation halves, from
  two calibration seeds, and from both (tapq.bench.ceilings);
- the best human proxy on the *search* split (chosen without looking at test) and the
  second best there, each with its test-split iso-rho [95% CI], and the paired test-split
  difference of the second against the first with its interval and half-width (the
  issue asks for at most +-0.05).

    OMP_NUM_THREADS=1 python benchmarks/shipped_benches.py [NAME ...]

Statistics are cached: the first run on the ImageNet benchmark computes them (~2 CPU
minutes), later runs take seconds.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tapq.bench import BenchStore, bench_info, resolve_bench, shipped_benches
from tapq.proxies import BASELINE_PROXIES, evaluate_proxies

RESULTS = Path(__file__).parent / "results" / "shipped_benches.json"


def _ceiling(info: dict, source: str) -> dict | None:
    found = (info.get("ceilings") or {}).get(source)
    if not found or found.get("ceiling") is None:
        return None
    ceiling = found["ceiling"]
    return {"ceiling": ceiling, "ci": found.get("ceiling_ci"), "configs": found.get("configs")}


def summarize(name: str) -> dict:
    """One benchmark's row."""
    path = resolve_bench(name)
    with BenchStore(path) as store:
        info = bench_info(store)
    start = time.perf_counter()
    found = evaluate_proxies(path, list(BASELINE_PROXIES), split="test")
    seconds = time.perf_counter() - start
    ranked = sorted((f for f in found if f.error is None and f.spearman_iso == f.spearman_iso),
                    key=lambda f: f.spearman_iso, reverse=True)
    best, second = ranked[0], ranked[1]
    # the paired difference of the second against the best (the reference of the run)
    again = evaluate_proxies(path, [second.proxy], split="test", reference=best.proxy)[0]
    low, high = again.delta_iso_ci
    return {
        "bench": name, "model": info["model"], "configs": info["configs"],
        "splits": [info["search"], info["select"], info["test"]], "target": info["target"],
        "bits": info["bits"], "ptq": info["ptq"],
        "ceilings": {s: _ceiling(info, s) for s in ("halves", "seeds", "independent")},
        "best": {"proxy": best.proxy, "search": best.spearman_iso,
                 "test": best.spearman_iso_test, "test_ci": best.spearman_iso_ci},
        "second": {"proxy": second.proxy, "search": second.spearman_iso,
                   "test": second.spearman_iso_test, "test_ci": second.spearman_iso_ci,
                   "delta": again.delta_iso, "delta_ci": [low, high],
                   "half_width": (high - low) / 2, "verdict": again.verdict},
        "all": {f.proxy: {"search": f.spearman_iso, "test": f.spearman_iso_test,
                          "test_ci": f.spearman_iso_ci, "delta": f.delta_iso,
                          "delta_ci": f.delta_iso_ci, "verdict": f.verdict,
                          "error": f.error} for f in found},
        "seconds": seconds,
    }


def _ci(value: float | None, ci: list | None) -> str:
    if value is None or value != value:
        return "undefined"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def markdown(rows: list[dict]) -> str:
    header = ("| benchmark | configs (search/select/test) | target | ceiling: halves | seeds | "
              "both | best human, test [95% CI] | second | Δ second − best [95% CI] | "
              "half-width |")
    lines = [header, "|---|---|---|---:|---:|---:|---|---|---:|---:|"]
    for r in rows:
        c = {s: (_ci(v["ceiling"], v["ci"]) if v else "not stored")
             for s, v in r["ceilings"].items()}
        b, s = r["best"], r["second"]
        lines.append(
            f"| {r['bench']} | {r['configs']} ({'/'.join(map(str, r['splits']))}) | "
            f"{r['target']} | {c['halves']} | {c['seeds']} | {c['independent']} | "
            f"{b['proxy']} {_ci(b['test'], b['test_ci'])} | "
            f"{s['proxy']} {_ci(s['test'], s['test_ci'])} | "
            f"{s['delta']:+.3f} [{s['delta_ci'][0]:+.3f}, {s['delta_ci'][1]:+.3f}] "
            f"{s['verdict']} | ±{s['half_width']:.3f} |")
    return "\n".join(lines)


def main(names: list[str]) -> None:
    rows = []
    for name in names or list(shipped_benches()):
        rows.append(summarize(name))
        print(f"{name}: {rows[-1]['seconds']:.0f} s", file=sys.stderr)
    RESULTS.parent.mkdir(exist_ok=True)
    # a run on some benchmarks replaces their rows and keeps the others'
    kept = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    fresh = {r["bench"] for r in rows}
    saved = sorted([r for r in kept if r["bench"] not in fresh] + rows, key=lambda r: r["bench"])
    RESULTS.write_text(json.dumps(saved, indent=1))
    print(markdown(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
