"""Measured Pareto points for the report: each proxy's allocation at several budgets and
every uniform precision, quantized with the benchmark's own PTQ and evaluated.

This is the one part of a report that runs PTQ (about a second per configuration on the
default model, with AdaRound's per-layer cache), so its points are kept in a JSON file
beside the report and reused while the proxies and budgets are unchanged.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tapq.allocate import Budget, Comparer, pareto_sweep, uniform_sweep
from tapq.device import DeviceLike
from tapq.outputs import write_text_atomic

DEFAULT_BUDGETS = (2.5, 3.0, 3.5, 4.0)


@dataclass(frozen=True)
class SweepPoint:
    """One measured configuration of the sweep."""

    label: str
    source: str  # "proxy" or "uniform"
    budget: float | None  # the average-bits budget it was allocated under
    accuracy: float
    size_mb: float
    bitops: float
    avg_bits: float
    bits: list[int]


def pareto_points(bench: str | Path, proxies: dict[str, str],
                  budgets: tuple[float, ...] = DEFAULT_BUDGETS,
                  cache: Path | None = None, ptq: str | None = None,
                  device: DeviceLike = None) -> list[SweepPoint]:
    """Points for `proxies` (label -> built-in name or file) at average-bit `budgets`,
    plus uniform precision at every bit-width of the benchmark, quantized with `ptq`
    (``rtn`` or ``adaround``; default: what the benchmark used) on `device` (default
    CPU; not part of the cache key: devices agree within measurement noise)."""
    key = {"bench": str(Path(bench).resolve()), "proxies": proxies, "budgets": list(budgets),
           "ptq": ptq,
           "code": {label: Path(spec).read_text() if spec.endswith(".py") else spec
                    for label, spec in proxies.items()}}
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return [SweepPoint(**p) for p in saved["points"]]
    comparer = Comparer.for_bench(bench, list(proxies.values()), ptq=ptq, oracle=False,
                                  device=device)
    # Comparer names a file proxy by its stem; the report uses the caller's labels.
    labels = {Path(s).stem if s.endswith(".py") else s: label for label, s in proxies.items()}
    sweep = pareto_sweep(comparer, [Budget("avg-bits", b) for b in budgets], references=False,
                         description="report: measuring allocations")
    points = [_point(labels.get(row.label, row.label), "proxy", budget.value, row.result)
              for budget, rows in sweep for row in rows]
    points += [_point(row.label, "uniform", None, row.result)
               for row in uniform_sweep(comparer, "report: measuring uniform precision")]
    if cache is not None:
        write_text_atomic(cache, json.dumps({"key": key, "points": [asdict(p) for p in points]}))
    return points


def _point(label: str, source: str, budget: float | None, result) -> SweepPoint:
    return SweepPoint(label, source, budget, result.q_acc, result.size_mb, float(result.bitops),
                      result.avg_w_bits, list(result.config.w.values()))
