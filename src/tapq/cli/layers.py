"""``tapq layers``: a model's quantizable layers with kind, size and MACs."""
from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from tapq.cli.common import add_device_arg, add_model_args, load_model_and_data_of, new_command

EXAMPLE = "example: tapq layers --model mnist-cnn"


def add_parser(commands) -> None:
    """Register ``tapq layers``."""
    parser = new_command(commands, "layers", "List a model's quantizable layers with size and "
                         "MACs.", EXAMPLE, run)
    add_model_args(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_device_arg(parser)


def run(args: argparse.Namespace, console: Console) -> None:
    """List the layers (tapq.quant.describe_layers) as a table or JSON."""
    from tapq.quant import describe_layers

    model, data = load_model_and_data_of(args)
    inventory = describe_layers(model.to(args.device), data.calib.x[:1].to(args.device))
    if args.json:
        print(json.dumps([layer.to_json() for layer in inventory.layers]))
        return
    table = Table(title=f"quantizable layers of {args.model}")
    for column in ("#", "name", "kind", "params", "MACs", "BatchNorm folded"):
        table.add_column(column, justify="right" if column in ("#", "params", "MACs") else "left")
    for layer in inventory.layers:
        table.add_row(str(layer.index), layer.name, layer.kind, f"{layer.num_params:,}",
                      f"{layer.macs:,}", layer.batchnorm or "-")
    console.print(table)
    fold = inventory.fold
    console.print(f"BatchNorm: {len(fold.pairs)} of {fold.total} folded"
                  + (f" ({fold.method})" if fold.total else ""), highlight=False)
    for bn, reason in fold.left:
        console.print(f"  left unfolded: {bn}: {reason}", highlight=False, markup=False)
