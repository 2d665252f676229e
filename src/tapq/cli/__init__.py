"""The ``tapq`` command line: a thin layer over the Python API, one module per command.

Each command module registers its parser (``add_parser``) and what it runs; rendering lives
beside them (render.py) and the flags several commands share in common.py. User mistakes
(a bad spec, a missing file, an invalid bit-width) end in one line on stderr and exit status
2; results are never printed half-way.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from tapq.cli import (allocate, bench, compare, demo, discover, layers, proxy, quantize, report,
                      train)
from tapq.cli.common import Parser, add_device_arg, one_line
from tapq.errors import TapqError
from tapq.progress import set_quiet

__all__ = ["build_parser", "main"]

# In the order `tapq --help` lists them.
COMMANDS = (demo, quantize, layers, train, allocate, compare, bench, discover, report, proxy)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``tapq`` parser: every command module's sub-parser."""
    parser = Parser(prog="tapq", description="Mixed-precision quantization with proxies "
                    "discovered by an LLM (TAP).")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.add_parser(commands)
    for name in ("discover", "report"):
        add_device_arg(commands.choices[name])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tapq`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    set_quiet(args.quiet or getattr(args, "json", False))
    if hasattr(sys.stdout, "reconfigure"):
        # Long jobs print each table as it is ready; piped to a file or `tee`, that needs
        # line buffering, or nothing shows until the end.
        sys.stdout.reconfigure(line_buffering=True)
    try:
        if getattr(args, "device", None) is not None:  # no CUDA: fail before any work
            from tapq.device import resolve_device

            args.device = resolve_device(args.device)
        # Piped output is not wrapped at 80 columns: tables stay whole in files and logs.
        args.handler(args, Console(width=None if sys.stdout.isatty() else 160))
    except TapqError as error:
        print(f"tapq: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Every result is committed as it is made (benchmarks, discovery runs) and every
        # output file is renamed into place, so stopping loses only the work in flight.
        print("tapq: interrupted; finished results are kept (rerun the same command, or "
              "add --resume for discover)", file=sys.stderr)
        return 130
    return 0
