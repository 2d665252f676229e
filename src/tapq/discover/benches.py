"""Searching several benchmarks at once (``tapq discover --bench A --bench B``).

A proxy that only ranks one network's configurations may have learnt that network. So a
candidate can be judged on several benchmarks: its table is computed from each
benchmark's own model statistics, in the sandbox, and scored on that benchmark's search
split against that benchmark's primary target. Its fitness is the mean of those iso-budget
rhos, or their minimum (``--fitness min``: a proxy is as good as its worst benchmark); the
select figures combine the same way, so the run's final choice follows the same rule.
With one benchmark both rules give that benchmark's figures, as before.

A candidate that fails on any benchmark (raises, times out, undefined fitness) fails: a
proxy the allocator cannot run on one of the networks is no proxy for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tapq.bench import BenchData
from tapq.proxies import LayerStats
from tapq.sandbox import SandboxJob, SandboxResult

__all__ = ["BenchJobs", "BenchTask", "bench_labels", "combine", "combined_metrics"]


@dataclass(frozen=True)
class BenchTask:
    """One benchmark of a search: its name in the run, its file, its configurations
    without the test split, its model's statistics and the sandbox job that computes a
    program's table from them."""

    label: str
    path: Path
    data: BenchData
    stats: list[LayerStats]
    job: SandboxJob


@dataclass(frozen=True, eq=False)
class BenchJobs:
    """`jobs(code)` runs a program on every benchmark's statistics, in order, each in
    its own sandbox worker; it stops at the first benchmark where the program fails
    (the candidate has failed). Picklable, so any executor runs it like one job."""

    jobs: tuple[SandboxJob, ...]

    def __call__(self, code: str) -> list[SandboxResult]:
        results = []
        for job in self.jobs:
            results.append(job(code))
            if results[-1].status != "ok":
                break
        return results


def bench_labels(paths: list[Path]) -> list[str]:
    """Short, distinct names for the benchmarks of a run: the file's stem, or the parent
    folder and stem where two stems collide."""
    stems = [Path(p).stem for p in paths]
    return [stem if stems.count(stem) == 1 else f"{Path(p).resolve().parent.name}/{stem}"
            for stem, p in zip(stems, paths)]


def combine(values: list[float], rule: str) -> float:
    """The benchmarks' figures combined by `rule` (``mean`` or ``min``), over the
    benchmarks where the figure is defined. A figure is undefined (NaN) where a
    benchmark's split cannot judge it -- no 0.5-bit band of its select split holds 8
    configurations, say -- which is the same for every candidate, so the combination
    still ranks candidates alike (NaN only when no benchmark defines it). -inf (a
    failure) stays -inf. The fitness itself is never taken over fewer benchmarks: each
    searched benchmark must define it (assembly.check_bench), and a candidate whose
    table leaves it undefined on one is an error (scoring.py)."""
    defined = [v for v in values if not math.isnan(v)]
    if not defined:
        return float("nan")
    return float(np.mean(defined)) if rule == "mean" else float(min(defined))


def combined_metrics(per_bench: list[dict], rule: str) -> dict:
    """Every numeric fitness figure (``Fitness.to_json`` keys) combined over the
    benchmarks by `rule`; ``target`` names each benchmark's target, ``fitness_rule`` the
    rule. One benchmark gives its own figures back."""
    if len(per_bench) == 1:
        return dict(per_bench[0])
    first = per_bench[0]
    numeric = [k for k, v in first.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)
               and all(isinstance(m.get(k), (int, float)) for m in per_bench)]
    combined = {k: combine([float(m[k]) for m in per_bench], rule) for k in numeric}
    combined["target"] = ", ".join(str(m.get("target")) for m in per_bench)
    combined["fitness_rule"] = rule
    return combined
