"""``tapq report``: one HTML page for a discovery run or a benchmark (report/build.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from tapq.cli.common import add_sandbox_arg, check_sandbox, new_command
from tapq.errors import TapqError
from tapq.outputs import check_output_file

EXAMPLE = ("example: tapq report tapq-demo                  # a discovery run's folder\n"
           "         tapq report run1 --out run1.html --budget 2.5\n"
           "         tapq report --bench my.db               # a benchmark alone")


def add_parser(commands) -> None:
    """Register ``tapq report``."""
    parser = new_command(commands, "report", "Write a self-contained HTML report (and PNG "
                         "figures) of a discovery run or a benchmark.", EXAMPLE, run)
    parser.add_argument("run", nargs="?", help="discovery run folder")
    parser.add_argument("--bench", help="report on this benchmark alone")
    parser.add_argument("--out", help="HTML file (default: RUN/report.html or "
                        "BENCH.report.html)")
    parser.add_argument("--budget", type=float, default=3.0,
                        help="average-bits budget of the bits-per-layer chart (default 3)")
    add_sandbox_arg(parser)


def run(args: argparse.Namespace, console: Console) -> None:
    """Write the report and say where it is."""
    from tapq.report import write_report

    if (args.run is None) == (args.bench is None):
        raise TapqError("give either a run folder or --bench FILE.db")
    if not 2 <= args.budget <= 8:
        raise TapqError(f"--budget {args.budget} is outside 2..8 average bits")
    if args.out:  # before any figure is drawn or measured
        check_output_file(args.out, "--out")
    if args.run is not None and (Path(args.run) / "run.db").is_file():
        check_sandbox(args)  # the run's best proxy is generated code
    result = write_report(run=args.run, bench=args.bench, out=args.out, budget=args.budget,
                          device=args.device)
    console.print(f"report: {result.html.resolve()} ({len(result.figures)} figures in "
                  f"{result.figures[0].parent if result.figures else '-'})")
