"""``tapq proxy list``, ``eval`` and ``stats``: the built-in proxies, their fitness, and the
layer statistics they read."""
from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from tapq.cli import render
from tapq.cli.common import (
    Parser,
    add_device_arg,
    add_model_args,
    add_sandbox_arg,
    add_stats_args,
    check_sandbox,
    load_model_and_data_of,
    new_command,
    stats_config,
)

LIST_EXAMPLE = "example: tapq proxy list"
EVAL_EXAMPLE = ("example: tapq proxy eval            # all built-ins, default benchmark\n"
                "         tapq proxy eval --bench mine.db --proxy hawq_v2 --proxy my_proxy.py")
STATS_EXAMPLE = ("example: tapq proxy stats --model efficientnet-lite1\n"
                 "         tapq proxy stats --model digits-cnn --stats hessian_trace "
                 "--hutchinson-probes 64")


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
    add_stats_args(evaluate)
    add_device_arg(evaluate)
    add_sandbox_arg(evaluate)
    stats = new_command(group, "stats", "Compute (or read from the cache) the layer "
                        "statistics proxies see, with their cost.", STATS_EXAMPLE, run_stats)
    add_model_args(stats)
    add_stats_args(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    add_device_arg(stats)


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
    from tapq.bench import DEFAULT_BENCH, resolve_bench
    from tapq.proxies import ProxyFile, evaluate_proxies, load_proxy

    bench = resolve_bench(args.bench) if args.bench else DEFAULT_BENCH
    if any(isinstance(load_proxy(p)[1], ProxyFile) for p in args.proxy or []):
        check_sandbox(args)  # files are generated (or foreign) code: only behind the boundary
    results = evaluate_proxies(bench, args.proxy, args.device, stats_config(args),
                               target=args.target, split=args.split, reference=args.reference)
    if args.json:
        print(json.dumps([r.to_json() for r in results]))
        return
    console.print(render.fitness_table(results, f"proxy fitness on {bench}"))
    console.print("Δ: paired difference in iso-budget ρ to the reference; a proxy 'beats' "
                  "another only when the 95% interval excludes 0.")
    for result in results:
        if result.error:
            console.print(f"[red]{result.proxy} failed:[/red] {result.error}")


def run_stats(args: argparse.Namespace, console: Console) -> None:
    """Statistics of every layer, the settings used, wall time and the trace's error."""
    import math
    import time

    from tapq.proxies import model_stats

    config = stats_config(args)
    model, data = load_model_and_data_of(args)
    resolved = config.resolved(sum(p.numel() for p in model.parameters()))
    start = time.perf_counter()
    stats = model_stats(model, data, args.device, config)
    seconds = time.perf_counter() - start
    total = sum(s.hessian_trace for s in stats)
    variance = sum(s.hessian_trace_se ** 2 for s in stats)
    rse = math.sqrt(variance) / abs(total) if total else math.nan
    summary = {"model": args.model, "data": data.name, "images": resolved.n,
               "hutchinson_probes": resolved.hutchinson_probes,
               "power_iters": resolved.power_iters, "statistics": list(resolved.statistics),
               "skipped": list(resolved.skipped()), "seconds": seconds,
               "hessian_trace_total": total, "hessian_trace_rse": rse,
               "layers": [{"name": s.name, "kind": s.kind, "num_params": s.num_params,
                           "hessian_trace": s.hessian_trace,
                           "hessian_trace_se": s.hessian_trace_se,
                           "hessian_eig": s.hessian_eig} for s in stats]}
    if args.json:
        print(json.dumps(summary))
        return
    table = Table(title=f"{args.model} on {data.name}: {resolved.n} images, "
                  f"{resolved.hutchinson_probes} probes, {resolved.power_iters} power iterations")
    for column in ("layer", "kind", "params", "Hessian trace", "± s.e.", "top eigenvalue"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for s in stats:
        table.add_row(s.name, s.kind, str(s.num_params), f"{s.hessian_trace:.4g}",
                      f"{s.hessian_trace_se:.2g}", f"{s.hessian_eig:.4g}")
    console.print(table)
    console.print(f"{seconds:.1f} s (0 when cached); summed Hessian trace {total:.4g}, "
                  f"relative standard error {100 * rse:.1f}% (layers independent)")
    if resolved.skipped():
        console.print(f"[yellow]not computed (NaN; proxies reading them fail):[/yellow] "
                      f"{', '.join(resolved.skipped())}; --stats all computes them")
