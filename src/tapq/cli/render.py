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
        if isinstance(value, dict):  # the ceilings: their own table (ceiling_table)
            continue
        if isinstance(value, list) and all(isinstance(v, float) for v in value):
            text = "[" + ", ".join(f"{v:.4f}" for v in value) + "]"
        else:
            text = f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(key.replace("_", " "), text)
    return table


def bench_list_table(rows: list[dict]) -> Table:
    """The shipped benchmarks, one row each (``tapq bench list``)."""
    table = Table(title="shipped benchmarks (--bench NAME)")
    for column in ("name", "model / data", "PTQ, bits", "target", "configs",
                   "search/select/test", "eval", "ceiling [95% CI]"):
        table.add_column(column, justify="left" if column in ("name", "model / data")
                         else "right")
    for row in rows:
        ceiling = "-"
        if row["ceiling"] is not None and math.isfinite(row["ceiling"]):
            low, high = row["ceiling_ci"]
            ceiling = f"{row['ceiling']:.3f} [{low:.3f}, {high:.3f}] ({row['ceiling_source']})"
        splits = "/".join(str(row["splits"][k]) for k in ("search", "select", "test"))
        table.add_row(row["name"], f"{row['model']} / {row['data']}",
                      f"{row['ptq']}, {','.join(map(str, row['bits']))}", row["target"],
                      str(row["configs"]), splits, str(row["eval_size"]), ceiling)
    return table


def ceiling_table(info: dict, title: str) -> Table:
    """Proxy ceilings (√reliability, 95% interval) of each source: per band, pooled over
    bands (what bounds iso-ρ) and plain (over the whole range)."""
    sources = {s: c for s, c in info["ceilings"].items() if c}
    table = Table(title=title if sources else f"{title}: nothing measured twice")
    table.add_column("avg bits", justify="right", no_wrap=True)
    for source, ceiling in sources.items():
        table.add_column(f"{source}\n(n={ceiling['configs']})", justify="right", no_wrap=True)

    def cell(entry: dict | None, prefix: str = "") -> str:
        if entry is None:
            return "-"
        if not math.isfinite(entry[f"ceiling{prefix}"]):
            return "undefined (no band of 8)"
        low, high = entry[f"ceiling{prefix}_ci"]
        return (f"{entry[f'ceiling{prefix}']:.3f} [{low:.3f}, {high:.3f}] "
                f"r {entry[f'reliability{prefix}']:.2f}")

    edges = sorted({tuple(b["avg_bits"]) for c in sources.values() for b in c["bands"]})
    for edge in edges:
        bands = [next((b for b in c["bands"] if tuple(b["avg_bits"]) == edge), None)
                 for c in sources.values()]
        table.add_row(f"{edge[0]:.2f}-{edge[1]:.2f}", *(cell(b) for b in bands))
    table.add_row("pooled (iso)", *(cell(c) for c in sources.values()), style="bold")
    table.add_row("plain", *(cell(c, "_plain") for c in sources.values()))
    missing = [s for s, c in info["ceilings"].items() if not c]
    table.caption = (f"target {info['target']}; ceiling = √reliability [95% bootstrap "
                     "interval], r = reliability; halves are Spearman-Brown corrected"
                     + (f"; not measured: {', '.join(missing)} (tapq bench remeasure)"
                        if missing else ""))
    return table


def _ci(ci: Sequence[float]) -> str:
    low, high = ci
    return f"[{low:+.3f}, {high:+.3f}]" if math.isfinite(low) and math.isfinite(high) else ""


def fitness_table(results: Sequence[Fitness], title: str) -> Table:
    """A table of proxy fitness, best iso-budget correlation on the search split first:
    iso-budget rho per split, the 95% interval on the interval split and the paired
    difference to the reference there."""
    split = next((r.split for r in results if r.split), None)
    reference = next((r.reference for r in results if r.reference), None)
    target = results[0].target if results else "accuracy"
    table = Table(title=f"{title}\ntarget: {target}"
                  + (f"; intervals: 95% paired bootstrap on the {split} split" if split else ""))
    table.add_column("proxy", style="bold", no_wrap=True)
    for header in ("ρ iso search", "ρ iso select", "ρ iso test"):
        table.add_column(header, justify="right", no_wrap=True)
    if split:
        table.add_column(f"95% CI ({split})", justify="right", no_wrap=True)
    if reference:
        table.add_column(f"Δ vs {reference} [95% CI]", justify="right", no_wrap=True)
    for header in ("ρ", "τ", "ms"):
        table.add_column(header, justify="right", no_wrap=True)
    for r in sorted(results, key=lambda r: -r.spearman_iso):
        cells = [r.proxy, _fmt3(r.spearman_iso), _fmt3(r.spearman_iso_select),
                 _fmt3(r.spearman_iso_test)]
        if split:
            cells.append(_ci(r.spearman_iso_ci))
        if reference:
            cells.append("reference" if r.proxy == reference else
                         f"{r.delta_iso:+.3f} {_ci(r.delta_iso_ci)} {r.verdict or ''}"
                         if math.isfinite(r.delta_iso) else "")
        cells += [_fmt3(r.spearman), _fmt3(r.kendall), f"{r.ms:.1f}"]
        table.add_row(*cells)
    return table


def transfer_table(rows: Sequence[dict]) -> Table:
    """The transfer check (tapq.discover.transfer): per shipped benchmark the run did not
    search, the best novel proxy, the run's best seed and that benchmark's best human
    proxy on its test split, with 95% intervals and the paired difference to the human."""
    from tapq.discover import key_rows

    table = Table(title="transfer check: shipped benchmarks the run did not search (test "
                  "splits; 95% paired bootstrap intervals)")
    for header in ("benchmark", "target", "proxy", "ρ iso test [95% CI]",
                   "Δ vs best human [95% CI]"):
        table.add_column(header, no_wrap=header != "proxy")
    for r in key_rows(rows):
        rho = r["spearman_iso_test"]
        shown = "undefined" if rho is None else f"{rho:.3f} {_ci(_nan(r['spearman_iso_ci']))}"
        if r["error"]:
            shown = f"failed: {r['error']}"
        if r["is_reference"]:
            delta = f"reference ({r['name']})"
        elif r["delta_iso"] is None:
            delta = "no comparison (undefined)"
        else:
            delta = (f"{r['delta_iso']:+.3f} {_ci(_nan(r['delta_iso_ci']))} "
                     f"{r['verdict']} {r['reference']}")
        table.add_row(r["bench"], r["target"], r["proxy"], shown, delta)
    return table


def _nan(values) -> tuple[float, float]:
    """A stored interval (None where undefined) as floats."""
    return tuple(float("nan") if v is None else v for v in values)


def verdict_line(proxy: Fitness) -> str:
    """One sentence: how `proxy` compares with its reference, interval included."""
    if proxy.reference is None or not math.isfinite(proxy.delta_iso):
        return f"{proxy.proxy}: no comparison (its iso-budget rho is undefined on the split)"
    if proxy.proxy == proxy.reference:
        return f"{proxy.proxy} is the reference"
    return (f"{proxy.proxy} {proxy.verdict} {proxy.reference} on the {proxy.split} split: "
            f"Δ iso-ρ {proxy.delta_iso:+.3f}, 95% CI {_ci(proxy.delta_iso_ci)}")


def _accuracy(result) -> str:
    """An accuracy with its 95% binomial interval over the evaluation set."""
    low, high = result.q_acc_ci
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{100 * result.q_acc:.2f}%"
    return f"{100 * result.q_acc:.2f}% [{100 * low:.1f}, {100 * high:.1f}]"


def compare_table(rows: Sequence, title: str, measured: bool = True) -> Table:
    """Configurations from proxies, uniform precision and the oracle, with what they measured.

    `rows` are CompareRow objects; bits per layer are listed in layer order.
    """
    table = Table(title=title)
    columns = ["config from", "accuracy [95% CI]", "KL to FP", "after QAT", "size MB", "MBitOps",
               "avg w-bits", "bits per layer"]
    if not measured:
        columns = [c for c in columns if c not in ("accuracy [95% CI]", "KL to FP", "after QAT")]
    if all(row.qat_acc is None for row in rows) and "after QAT" in columns:
        columns.remove("after QAT")
    target = rows[0].result.target if rows else "accuracy"  # agreement: label-free data
    for column in columns:
        table.add_column(f"{target} [95% CI]" if column == "accuracy [95% CI]" else column,
                         justify="left" if column in ("config from", "bits per layer")
                         else "right", no_wrap=column != "bits per layer")
    for row in rows:
        r = row.result
        cells = {"config from": row.label, "accuracy [95% CI]": _accuracy(r),
                 "KL to FP": f"{r.kl:.4f}",
                 "after QAT": "" if row.qat_acc is None else f"{100 * row.qat_acc:.2f}%",
                 "size MB": f"{r.size_mb:.4f}", "MBitOps": f"{r.bitops / 1e6:.1f}",
                 "avg w-bits": f"{r.avg_w_bits:.2f}",
                 "bits per layer": " ".join(str(b) for b in r.config.w.values())}
        table.add_row(*(cells[c] for c in columns))
    return table


def generations_table(summary) -> Table:
    """Per generation: candidates, valid share, best and median fitness, best on select."""
    table = Table(title="discovery: iso-budget Spearman per generation")
    for column in ("gen", "candidates", "valid", "novel", "best", "median", "best (select)",
                   "population best", "top strategy (p)"):
        table.add_column(column, justify="right")
    for g in summary.generations:
        top = max(g.probabilities.items(), key=lambda kv: kv[1])
        table.add_row(str(g.generation), str(g.candidates), str(g.valid), str(g.novel),
                      _fmt3(g.best), _fmt3(g.median), _fmt3(g.best_select),
                      _fmt3(g.population_best),
                      f"{top[0]} ({top[1]:.2f})")
    return table


def _fmt3(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "-"


def fmt3(x: float | None) -> str:
    """A figure with three decimals, "-" where undefined (None, NaN, -inf)."""
    return "-" if x is None else _fmt3(float(x))
