"""``tapq compare``: several proxies at a budget beside uniform precision and the benchmark
oracle, all measured; ``--sweep`` gives one comparison per budget."""
from __future__ import annotations

import argparse
import json

from rich.console import Console

from tapq.cli import render
from tapq.cli.allocate import allocation_inputs
from tapq.cli.common import (
    add_budget_args,
    add_device_arg,
    add_model_args,
    add_sandbox_arg,
    add_stats_args,
    new_command,
    ptq_settings,
    qat_epochs,
    stats_config,
)

EXAMPLE = ("example: tapq compare --budget avg-bits=3 --proxies hawq_v2,fisher,size\n"
           "         tapq compare --sweep --budget avg-bits=3 --budget avg-bits=4\n"
           "         tapq compare --budget bitops=2e8 --proxies fisher --finetune qat "
           "--epochs 2")


def add_parser(commands) -> None:
    """Register ``tapq compare``."""
    parser = new_command(commands, "compare", "Several proxies at one budget, plus uniform "
                         "precision and the benchmark oracle, all measured.", EXAMPLE, run)
    add_model_args(parser)
    add_budget_args(parser)
    parser.add_argument("--proxies", default="hawq_v2,fisher,ompq,size",
                        help="comma-separated built-in names or .py files")
    parser.add_argument("--bench", help="benchmark of this model for the oracle row "
                        "(default: the shipped one for mnist-cnn)")
    parser.add_argument("--sweep", action="store_true", help="one comparison per --budget "
                        "(a Pareto sweep) instead of all budgets at once")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    add_stats_args(parser)
    add_device_arg(parser)
    add_sandbox_arg(parser)


def run(args: argparse.Namespace, console: Console) -> None:
    """Allocate with every proxy, measure everything, print one table per budget."""
    from tapq.allocate import Comparer, pareto_sweep
    from tapq.bench import BenchStore, default_bench_for, resolve_bench

    proxies = [p for p in args.proxies.split(",") if p]
    if args.bench:
        BenchStore(args.bench).close()  # a damaged file fails before the model loads
    model, data, budgets, bits, tied = allocation_inputs(args, proxies)
    bench = resolve_bench(args.bench) if args.bench else default_bench_for(args.model,
                                                                           args.weights)
    comparer = Comparer(model, data, proxies, bits=bits, a_bits=args.a_bits,
                        settings=ptq_settings(args), pin_first_last=args.pin_first_last,
                        tied=tied, bench=None if bench is None else str(bench),
                        qat_epochs=qat_epochs(args), model_spec=args.model, device=args.device,
                        stats_config=stats_config(args))
    # Several --budget flags are one combined budget; --sweep gives one table per budget.
    sweep = (pareto_sweep(comparer, budgets) if args.sweep
             else [(None, comparer.at(budgets))])
    if args.json:
        print(json.dumps([{"budget": str(b) if b else ", ".join(args.budget),
                           "rows": [r.to_json() for r in rows]} for b, rows in sweep]))
        return
    for budget, rows in sweep:
        console.print(render.compare_table(rows, f"{args.model} at "
                                           f"{budget or ', '.join(args.budget)} "
                                           f"(PTQ {args.ptq}, activations {args.a_bits} bits)"))
