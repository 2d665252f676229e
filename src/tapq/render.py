"""Rich tables for the terminal: how the CLI shows results (the JSON forms live with the data)."""
from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from tapq.proxies.fitness import Fitness


def ptq_table(rows: Sequence, title: str) -> Table:
    """Accuracy, loss versus full precision, size and BitOps of measured configurations.

    `rows` have ``label``, ``ptq`` and ``result`` (a QuantResult); the first is FP.
    """
    fp_acc = rows[0].result.q_acc
    table = Table(title=title)
    for column in ("config", "PTQ", "accuracy", "vs FP", "size MB", "MBitOps"):
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
