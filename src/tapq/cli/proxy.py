"""``tapq proxy list`` and ``tapq proxy eval``: the built-in proxies and their fitness."""
from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from tapq.cli import render
from tapq.cli.common import Parser, add_device_arg, new_command

LIST_EXAMPLE = "example: tapq proxy list"
EVAL_EXAMPLE = ("example: tapq proxy eval            # all built-ins, default benchmark\n"
                "         tapq proxy eval --bench mine.db --proxy hawq_v2 --proxy my_proxy.py")


def add_parser(commands) -> None:
    """Register ``tapq proxy list`` and ``tapq proxy eval``."""
    proxy = commands.add_parser("proxy", help="List proxies and score them on a benchmark.")
    group = proxy.add_subparsers(dest="proxy_command", required=True, parser_class=Parser)
    new_command(group, "list", "List the built-in (human baseline) proxies.", LIST_EXAMPLE,
                run_list)
    evaluate = new_command(group, "eval", "Fitness of proxies on a benchmark (all built-ins "
                           "by default).", EVAL_EXAMPLE, run_eval)
    evaluate.add_argument("--bench", help="benchmark database (default: the shipped "
                          "mnist-cnn benchmark)")
    evaluate.add_argument("--proxy", action="append", metavar="NAME|FILE.py",
                          help="a built-in proxy or a file defining sensitivity(layer, bits); "
                          "repeatable")
    evaluate.add_argument("--target", choices=("accuracy", "kl", "agreement"),
                          help="rank against this target (default: the benchmark's primary)")
    evaluate.add_argument("--split", default="test", choices=("search", "select", "test"),
                          help="split the 95%% intervals and differences are computed on")
    evaluate.add_argument("--reference", metavar="NAME|FILE.py",
                          help="proxy the paired differences are taken to (default: the best "
                          "built-in on the search split)")
    evaluate.add_argument("--json", action="store_true", help="print a JSON list")
    add_device_arg(evaluate)


def run_list(args: argparse.Namespace, console: Console) -> None:
    """The built-in proxies with the first line of their docstring."""
    from tapq.proxies import BASELINE_PROXIES

    table = Table(title="built-in proxies: sensitivity(layer, bits)")
    table.add_column("name", style="bold")
    table.add_column("source and formula")
    for name, function in BASELINE_PROXIES.items():
        table.add_row(name, (function.__doc__ or "").strip().splitlines()[0])
    console.print(table)


def run_eval(args: argparse.Namespace, console: Console) -> None:
    """Score the proxies on the benchmark and print their fitness."""
    from tapq.bench import DEFAULT_BENCH
    from tapq.proxies import evaluate_proxies

    bench = args.bench or DEFAULT_BENCH
    results = evaluate_proxies(bench, args.proxy, args.device, target=args.target,
                               split=args.split, reference=args.reference)
    if args.json:
        print(json.dumps([r.to_json() for r in results]))
        return
    console.print(render.fitness_table(results, f"proxy fitness on {bench}"))
    console.print("Δ: paired difference in iso-budget ρ to the reference; a proxy 'beats' "
                  "another only when the 95% interval excludes 0.")
    for result in results:
        if result.error:
            console.print(f"[red]{result.proxy} failed:[/red] {result.error}")
