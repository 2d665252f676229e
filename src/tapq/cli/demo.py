"""``tapq demo``: the main job on the embedded default, printed stage by stage."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from tapq.cli import discover as discover_cli
from tapq.cli import render
from tapq.cli.common import add_device_arg, add_sandbox_arg, check_sandbox, new_command
from tapq.errors import TapqError
from tapq.outputs import check_output_folder

EXAMPLE = ("example: tapq demo                      # everything, offline, ~15 min\n"
           "         tapq demo --no-discovery       # PTQ, benchmark and baselines only")


def add_parser(commands) -> None:
    """Register ``tapq demo``."""
    parser = new_command(commands, "demo", "Run the main job on the embedded default model: "
                         "PTQ, the benchmark, baselines, discovery with the embedded LLM, "
                         "allocation.", EXAMPLE, run)
    parser.add_argument("--out", default="tapq-demo", help="folder of the run (default "
                        "tapq-demo; an existing run there is continued)")
    parser.add_argument("--llm", default="embedded", help="LLM for discovery (default: the "
                        "embedded offline model)")
    parser.add_argument("--generations", type=int, default=3, help="discovery generations")
    parser.add_argument("--population", type=int, default=6, help="discovery population")
    parser.add_argument("--no-discovery", action="store_true",
                        help="stop after the baseline proxies (no LLM)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_device_arg(parser)
    add_sandbox_arg(parser)


def run(args: argparse.Namespace, console: Console) -> None:
    """Run the demo, printing each stage's table as soon as it is measured."""
    from tapq.demo import DemoSettings, run_demo

    settings = DemoSettings(out=Path(args.out), discover=not args.no_discovery, llm=args.llm,
                            generations=args.generations, population=args.population,
                            device=str(args.device))
    if settings.discover:  # the discovery settings are checked before the first PTQ minute
        _check_discovery(settings)
        check_sandbox(args)

    shown: dict = {}

    def show(stage: str, value) -> None:
        if args.json:
            return
        if stage == "ptq":
            console.print(render.ptq_table(value, "mnist-cnn on mnist (2,000 evaluation "
                                           "images): PTQ accuracy"))
        elif stage == "bench":
            console.print(render.bench_table(value, "the default ground-truth benchmark"))
        elif stage == "baselines":
            console.print(render.fitness_table(value, "human baseline proxies on it"))
        elif stage == "discovery":
            discover_cli.show_discovery(value, console)
            shown["discovery"] = value
        elif stage == "compare":
            discover_cli.show_compare(value, settings.budget, console)
            discover_cli.show_transfer(shown["discovery"], console)
            discover_cli.show_outputs(shown["discovery"], console)
        elif stage == "report" and value is not None:
            console.print(f"[bold]report:[/bold] {value.html.resolve()}")

    result = run_demo(settings, show)
    if args.json:
        print(json.dumps(result.to_json()))


def _check_discovery(settings) -> None:
    from tapq.discover import RUN_DB, check_run_folder

    for flag in ("generations", "population"):
        if getattr(settings, flag) < 1:
            raise TapqError(f"--{flag} must be at least 1")
    check_output_folder(settings.out, "--out")
    discover_cli.check_llm(settings.llm)
    check_run_folder(settings.discover_config(), resume=(settings.out / RUN_DB).exists())
