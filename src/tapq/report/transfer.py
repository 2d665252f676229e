"""The report's sections on benchmarks beyond the first: the ones a run searched together
(each benchmark's own fitness of the best novel proxy and the best seed), and the transfer
check on the shipped benchmarks it did not search (test splits, 95% intervals)."""
from __future__ import annotations

import math

from tapq.discover import key_rows, seed_name
from tapq.report import html as H
from tapq.report.data import RunView

__all__ = ["benches_section", "transfer_section"]


def _fmt(x: float | None) -> str:
    return f"{x:.3f}" if x is not None and math.isfinite(x) else "-"


def _ci(values: list) -> str:
    low, high = values
    return "" if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"


def transfer_section(run: RunView) -> str:
    """The transfer check as a table, or in one line why there is none."""
    if run.transfer is None:
        return H.section("Transfer to other benchmarks", "No transfer check is stored: the "
                         "run has not finished with its final check (or predates it).")
    rows, notes = run.transfer
    body = []
    for r in key_rows(rows):
        if r["error"]:
            rho = f"failed: {r['error']}"
        else:
            rho = f"{_fmt(r['spearman_iso_test'])} {_ci(r['spearman_iso_ci'])}"
        if r["is_reference"]:
            delta = "reference"
        elif r["delta_iso"] is None:
            delta = "no comparison (undefined)"
        else:
            delta = (f"{r['delta_iso']:+.3f} {_ci(r['delta_iso_ci'])} {r['verdict']} "
                     f"{r['reference']}")
        body.append([r["bench"], r["target"], r["proxy"], rho, delta])
    parts = [H.quote(note) for note in notes]
    if body:
        parts.append(H.table(["benchmark", "target", "proxy", "ρ iso test [95% CI]",
                              "Δ vs its best human [95% CI]"], body, text_columns=(0, 1, 2, 4)))
    return H.section(
        "Transfer to other benchmarks",
        "The best novel proxy on every shipped benchmark the run did not search, on that "
        "benchmark's test split only, beside the run's best seed and that benchmark's best "
        "human proxy (chosen on its search split); intervals are 95% paired bootstrap, "
        "\"beats\" only when the interval of Δ excludes 0.", *parts)


def benches_section(run: RunView) -> str | None:
    """Each searched benchmark's fitness of the best novel proxy and the best seed (None
    for a run that searched one benchmark)."""
    benches = run.meta.get("benches") or []
    if len(benches) < 2:
        return None
    rule = run.meta.get("fitness_rule", "mean")
    rows = []
    for who, record in (("best novel", run.summary.best), ("best seed", run.summary.best_seed)):
        if record is None or not record.bench_scores:
            continue
        name = who if who == "best novel" else f"{who}: {seed_name(record)}"
        for bench in benches:
            scores = record.bench_scores.get(bench["label"], {})
            metrics = scores.get("metrics", {})
            rows.append([name, bench["label"], bench["target"], _fmt(scores.get("fitness")),
                         _fmt(metrics.get("spearman_iso_select"))])
        rows.append([name, f"{rule} (fitness)", "", _fmt(record.fitness),
                     _fmt(record.metrics.get("spearman_iso_select"))])
    return H.section(
        "Benchmarks searched", f"Every candidate was scored on {len(benches)} benchmarks, "
        f"each on its own search split and primary target; its fitness is the {rule} of "
        "their iso-budget ρ, and the final choice combines their select splits alike.",
        H.table(["proxy", "benchmark", "target", "ρ iso search", "ρ iso select"], rows,
                text_columns=(0, 1, 2)))
