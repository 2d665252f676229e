"""Rich tables for the terminal: how the CLI shows results (the JSON forms live with the data)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:  # scipy comes with fitness: ~0.6 s a command that shows none need not pay
    from tapq.proxies.fitness import Fitness


def ptq_table(rows: Sequence, title: str) -> Table:
    """Accuracy, loss versus full precision, size and BitOps of measured configurations.

    `rows` have ``label``, ``ptq`` and ``result`` (a QuantResult); the first is FP.
    """
    fp_acc = rows[0].result.q_acc
    table = Table(title=title)
    target = rows[0].result.target  # agreement with FP for label-free data
    for column in ("config", "PTQ", target, "vs FP", "size MB", "MBitOps"):
        table.add_column(column, justify="right")
    for row in rows:
        r = row.result
        table.add_row(row.label, row.ptq, f"{100 * r.q_acc:.2f}%",
                      f"{100 * (r.q_acc - fp_acc):+.2f}", f"{r.size_mb:.4f}",
                      f"{r.bitops / 1e6:.1f}")
    return table


def bench_table(info: dict, title: str) -> Table:
    """A benchmark's ``bench_info`` as two columns."""
    table = Table(title=title, show_header=False)
    table.add_column(justify="right", style="bold")
    table.add_column()
    for key, value in info.items():
        table.add_row(key.replace("_", " "), f"{value:.4f}" if isinstance(value, float)
                      else str(value))
    return table


def fitness_table(results: Sequence[Fitness], title: str) -> Table:
    """A table of proxy fitness, best iso-budget correlation first."""
    columns = {"spearman_iso": "ρ iso", "spearman_iso_val": "ρ iso val", "spearman": "ρ",
               "spearman_val": "ρ val", "kendall": "τ", "pearson": "r",
               "spearman_top20": "ρ top20%", "spearman_top50": "ρ top50%", "ms": "ms"}
    table = Table(title=title)
    table.add_column("proxy", style="bold", no_wrap=True)
    for header in columns.values():
        table.add_column(header, justify="right", no_wrap=True)
    for result in sorted(results, key=lambda r: -r.spearman_iso):
        table.add_row(result.proxy, *(f"{getattr(result, c):.3f}" if c != "ms" else
                                      f"{result.ms:.1f}" for c in columns))
    return table


def compare_table(rows: Sequence, title: str, measured: bool = True) -> Table:
    """Configurations from proxies, uniform precision and the oracle, with what they measured.

    `rows` are CompareRow objects; bits per layer are listed in layer order.
    """
    table = Table(title=title)
    columns = ["config from", "accuracy", "KL to FP", "after QAT", "size MB", "MBitOps",
               "avg w-bits", "bits per layer"]
    if not measured:
        columns = [c for c in columns if c not in ("accuracy", "KL to FP", "after QAT")]
    if all(row.qat_acc is None for row in rows) and "after QAT" in columns:
        columns.remove("after QAT")
    target = rows[0].result.target if rows else "accuracy"  # agreement: label-free data
    for column in columns:
        table.add_column(target if column == "accuracy" else column,
                         justify="left" if column in ("config from", "bits per layer")
                         else "right", no_wrap=column != "bits per layer")
    for row in rows:
        r = row.result
        cells = {"config from": row.label, "accuracy": f"{100 * r.q_acc:.2f}%",
                 "KL to FP": f"{r.kl:.4f}",
                 "after QAT": "" if row.qat_acc is None else f"{100 * row.qat_acc:.2f}%",
                 "size MB": f"{r.size_mb:.4f}", "MBitOps": f"{r.bitops / 1e6:.1f}",
                 "avg w-bits": f"{r.avg_w_bits:.2f}",
                 "bits per layer": " ".join(str(b) for b in r.config.w.values())}
        table.add_row(*(cells[c] for c in columns))
    return table


def generations_table(summary) -> Table:
    """Per generation: candidates, valid share, best and median fitness, best on val."""
    table = Table(title="discovery: iso-budget Spearman per generation")
    for column in ("gen", "candidates", "valid", "best", "median", "best (val)",
                   "population best", "top strategy (p)"):
        table.add_column(column, justify="right")
    for g in summary.generations:
        top = max(g.probabilities.items(), key=lambda kv: kv[1])
        table.add_row(str(g.generation), str(g.candidates), str(g.valid), _fmt3(g.best),
                      _fmt3(g.median), _fmt3(g.best_val), _fmt3(g.population_best),
                      f"{top[0]} ({top[1]:.2f})")
    return table


def _fmt3(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "-"
