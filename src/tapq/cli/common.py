"""What the commands share: the parser class, flag groups, and turning flags into API calls.

Every flag that several commands take is declared once here (model and data, budgets,
executors, the device), so they read and fail the same everywhere: a usage mistake is one
line and exit status 2, like any other tapq error.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from tapq.errors import TapqError
from tapq.executors import EXECUTORS

__all__ = ["Parser", "add_budget_args", "add_device_arg", "add_executor_args", "add_model_args",
           "add_sandbox_arg", "add_stats_args", "bit_list", "check_sandbox", "check_sizes",
           "data_spec_of", "load_model_and_data_of", "new_command", "one_line", "ptq_settings",
           "qat_epochs", "stats_config"]


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, like every other tapq error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tapq: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(message: object) -> str:
    """The message on one line: the rule is one line of error, however it was raised."""
    return " ".join(str(message).split())


def new_command(group, name: str, help_text: str, example: str | None,
                run: Callable | None = None) -> argparse.ArgumentParser:
    """A (sub)command `name` in the subparsers `group`, with `example` as its epilog and
    `run(args, console)` as what it does (stored as `handler`: a command may have an argument named run)."""
    parser = group.add_parser(name, help=help_text, description=help_text, epilog=example,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    if run is not None:
        parser.set_defaults(handler=run)
    return parser


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """``--device``, on every command that runs a model; checked in `main` before any work."""
    parser.add_argument("--device", default="cpu", metavar="cpu|cuda|cuda:N",
                        help="where models run (default cpu); data stays in host memory and "
                        "moves a batch at a time")


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """``--model --weights --data --calib-n --eval-n``."""
    parser.add_argument("--model", default="mnist-cnn",
                        help="built-in name, package.module:factory, torchvision:NAME or "
                        "torchvision:NAME:DEFAULT (default mnist-cnn)")
    parser.add_argument("--weights", help="weights file (state dict) for the model")
    parser.add_argument("--data", help="dataset: mnist, digits, imagefolder:PATH[?OPTIONS] "
                        "or package.module:factory / file.py:factory; default: the model's own")
    parser.add_argument("--calib-n", type=int, metavar="N", help="use a seeded, "
                        "class-stratified subset of N calibration examples")
    parser.add_argument("--eval-n", type=int, metavar="N", help="evaluate on a seeded, "
                        "class-stratified subset of N evaluation examples")


# The names of tapq.proxies.ALL_STATISTICS, written out: importing them would import torch
# for every command's --help (tests/proxies/test_stats_cost.py checks the two agree).
STATS_HELP = ("statistics to compute, comma-separated (grad, act, hessian_trace, hessian_eig, "
              "fisher, synflow, patches, act_range, ptq, delta_loss): "
              "NAMES computes only those (the others are NaN, and a proxy reading them "
              "fails), +NAMES the model's defaults plus those (ptq and delta_loss are "
              "never a default), all every one")


def add_stats_args(parser: argparse.ArgumentParser) -> None:
    """``--stats-n --hutchinson-probes --power-iters --stats``: what the layer statistics
    cost, on every command that computes them (read with `stats_config`)."""
    group = parser.add_argument_group("statistics (default by model size: under 1M "
                                      "parameters 128 images, 16 probes, 20 power "
                                      "iterations; larger 32 images, 8 probes, no "
                                      "eigenvalue)")
    group.add_argument("--stats-n", type=int, metavar="N",
                       help="calibration images the statistics are computed on")
    group.add_argument("--hutchinson-probes", type=int, metavar="N",
                       help="Rademacher probes per Hessian trace (one backward each)")
    group.add_argument("--power-iters", type=int, metavar="N", help="power iterations per "
                       "Hessian eigenvalue (one backward per layer each)")
    group.add_argument("--stats", metavar="all|NAMES|+NAMES", help=STATS_HELP)


def stats_config(args: argparse.Namespace):
    """The StatsConfig the statistics flags name (None fields: defaults by model size)."""
    from tapq.proxies import StatsConfig, parse_stats_option

    for flag, value in (("--stats-n", args.stats_n), ("--hutchinson-probes",
                                                      args.hutchinson_probes)):
        if value is not None and value < 1:
            raise TapqError(f"{flag} must be at least 1")
    if args.power_iters is not None and args.power_iters < 0:
        raise TapqError("--power-iters must not be negative")
    statistics, extra = parse_stats_option(args.stats)
    return StatsConfig(n=args.stats_n, hutchinson_probes=args.hutchinson_probes,
                       power_iters=args.power_iters, statistics=statistics, extra=extra)


def add_budget_args(parser: argparse.ArgumentParser) -> None:
    """The flags of an allocation: budgets, candidate bits, pins, ties, PTQ and QAT."""
    parser.add_argument("--budget", required=True, action="append", metavar="KIND=VALUE",
                        help="avg-bits=X, size-mb=X or bitops=X; repeat for several")
    parser.add_argument("--bits", default="2,3,4,6,8", help="candidate weight bits")
    parser.add_argument("--a-bits", type=int, default=8, help="activation bits of every layer")
    parser.add_argument("--pin-first-last", type=int, metavar="BITS",
                        help="hold the first and last layer at BITS")
    parser.add_argument("--tie", action="append", default=[], metavar="L1,L2",
                        help="layers that must share a bit-width; repeatable")
    parser.add_argument("--ptq", default="adaround", choices=("rtn", "adaround"),
                        help="PTQ used to measure (default adaround, as the default benchmark)")
    parser.add_argument("--finetune", choices=("qat",), help="quantization-aware fine-tuning "
                        "after PTQ (LSQ), reported beside the PTQ accuracy")
    parser.add_argument("--epochs", type=int, default=2, help="QAT epochs (with --finetune)")


def add_executor_args(parser: argparse.ArgumentParser, work: str) -> None:
    """The ``--workers/--executor/--ray-address`` flags of a command that runs `work`
    (e.g. "configurations") on an executor; read them with tapq.executors.make_executor."""
    parser.add_argument("--workers", type=int, default=1,
                        help=f"worker processes measuring {work} (default 1: this process)")
    parser.add_argument("--executor", default="local", choices=EXECUTORS,
                        help="where workers run: local processes or Ray (pip install "
                        "'tapq[ray]'); with ray and no --ray-address, --workers is the CPUs "
                        "of a private local Ray instance")
    parser.add_argument("--ray-address", help="a running Ray cluster to use (HEAD:6379, or "
                        "auto for the one `ray start` began here)")


def bit_list(text: str) -> list[int]:
    """``--bits 2,4,8`` as a sorted list of checked bit-widths."""
    from tapq.quant import check_bits

    try:
        bits = sorted({int(b) for b in text.split(",")})
    except ValueError:
        raise TapqError(f"--bits takes a comma-separated list of integers, not {text!r}")
    for b in bits:
        check_bits(b)
    return bits


def check_sizes(args: argparse.Namespace) -> None:
    """``--calib-n`` / ``--eval-n`` must be positive (named by their flags)."""
    for flag, value in (("--calib-n", args.calib_n), ("--eval-n", args.eval_n)):
        if value is not None and value < 1:
            raise TapqError(f"{flag} must be at least 1")


def data_spec_of(args: argparse.Namespace) -> str | None:
    """The canonical data spec the model flags name (see tapq.models.resolve_data_spec)."""
    from tapq.models import resolve_data_spec

    check_sizes(args)
    return resolve_data_spec(args.model, args.data, args.calib_n, args.eval_n)


def load_model_and_data_of(args: argparse.Namespace):
    """The model and data the model flags name, checked to fit each other."""
    from tapq.models import load_model_and_data

    check_sizes(args)
    return load_model_and_data(args.model, args.weights, args.data, args.calib_n, args.eval_n)


def ptq_settings(args: argparse.Namespace):
    """PTQ settings from ``--ptq``."""
    from tapq.quant import PTQSettings

    return PTQSettings(weight_rounding=args.ptq)


def qat_epochs(args: argparse.Namespace) -> int:
    """QAT epochs asked for (0: none)."""
    return args.epochs if args.finetune == "qat" else 0


def add_sandbox_arg(parser: argparse.ArgumentParser) -> None:
    """``--allow-unisolated``, on every command that may run generated or file proxies."""
    parser.add_argument("--allow-unisolated", action="store_true",
                        help="run proxy code even where the sandbox's OS boundary cannot be "
                        "had (not recommended; every output then says so)")


def check_sandbox(args: argparse.Namespace) -> str:
    """The sandbox's isolation, stated before any proxy code runs: on stdout when it holds
    (not with --json, whose stdout is one JSON value; run.db and the report keep it too),
    as a warning on stderr when it does not; one-line TapqError when the OS boundary cannot
    be had and --allow-unisolated was not given."""
    import sys

    from tapq.sandbox import allow_unisolated, require_isolation

    if getattr(args, "allow_unisolated", False):
        allow_unisolated()  # pool and Ray workers inherit it
    isolation = require_isolation()
    line = f"sandbox: {isolation.describe()}"
    if not isolation.isolated:
        print(f"tapq: warning: {line}", file=sys.stderr)
    elif not getattr(args, "json", False):
        print(line, flush=True)
    return isolation.describe()
