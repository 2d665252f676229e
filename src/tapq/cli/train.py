"""``tapq train``: retrain a built-in model from its seed (reproduces the shipped weights)."""
from __future__ import annotations

import argparse

from rich.console import Console

from tapq.cli.common import add_device_arg, new_command
from tapq.errors import TapqError
from tapq.outputs import check_output_folder

EXAMPLE = "example: tapq train mnist-cnn"


def add_parser(commands) -> None:
    """Register ``tapq train``."""
    parser = new_command(commands, "train", "Retrain a built-in model from its seed "
                         "(reproduces shipped weights).", EXAMPLE, run)
    parser.add_argument("name", help="built-in model name, e.g. mnist-cnn")
    parser.add_argument("--out", help="folder for the checkpoint (default: the package's)")
    add_device_arg(parser)


def run(args: argparse.Namespace, console: Console) -> None:
    """Train and say where the checkpoint went."""
    from tapq.models import BUILTIN_MODELS, train_builtin

    if args.name not in BUILTIN_MODELS:
        raise TapqError(f"no built-in model {args.name!r}; built-ins: {', '.join(BUILTIN_MODELS)}")
    if args.out:
        check_output_folder(args.out, "--out")
    record = train_builtin(args.name, args.out, args.device)
    console.print(f"saved {record['path']}: eval accuracy {100 * record['eval_accuracy']:.2f}% "
                  f"in {record['train_seconds']:.0f} s")
