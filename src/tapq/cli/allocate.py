"""``tapq allocate``: bits per layer from one proxy under a budget (exact MILP), optionally
measured; and the flag checks it shares with ``tapq compare``."""
from __future__ import annotations

import argparse
import json

from rich.console import Console

from tapq.cli import render
from tapq.cli.common import (
    add_budget_args,
    add_device_arg,
    add_model_args,
    add_sandbox_arg,
    add_stats_args,
    bit_list,
    check_sandbox,
    load_model_and_data_of,
    new_command,
    ptq_settings,
    qat_epochs,
    stats_config,
)
from tapq.errors import TapqError
from tapq.outputs import check_output_file

EXAMPLE = ("example: tapq allocate --proxy hawq_v2 --budget avg-bits=3 --measure\n"
           "         tapq allocate --proxy my_proxy.py --budget size-mb=0.015 "
           "--out bits.json --json")


def add_parser(commands) -> None:
    """Register ``tapq allocate``."""
    parser = new_command(commands, "allocate", "Choose bits per layer with a proxy under a "
                         "budget (MILP).", EXAMPLE, run)
    add_model_args(parser)
    add_budget_args(parser)
    parser.add_argument("--proxy", required=True, metavar="NAME|FILE.py",
                        help="built-in proxy or a file defining sensitivity(layer, bits)")
    parser.add_argument("--measure", action="store_true",
                        help="PTQ the chosen configuration and report accuracy")
    parser.add_argument("--out", help="write the bit configuration JSON here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_stats_args(parser)
    add_device_arg(parser)
    add_sandbox_arg(parser)


def allocation_inputs(args: argparse.Namespace, proxies: list[str]):
    """Model, data, budgets, bits and ties from the shared allocation flags; every flag
    and proxy file is checked before the model is loaded."""
    from tapq.allocate import Budget, check_pin
    from tapq.proxies import ProxyFile, load_proxy
    from tapq.quant import check_bits

    budgets = [Budget.parse(text) for text in args.budget]
    bits = bit_list(args.bits)
    check_bits(args.a_bits)
    check_pin(bits, args.pin_first_last)
    if args.finetune and args.epochs < 1:
        raise TapqError("--epochs must be at least 1")
    if any(isinstance(load_proxy(proxy)[1], ProxyFile) for proxy in proxies):
        check_sandbox(args)  # before the model loads: files run only behind the boundary
    model, data = load_model_and_data_of(args)
    tied = [group.split(",") for group in args.tie]
    return model, data, budgets, bits, tied


def run(args: argparse.Namespace, console: Console) -> None:
    """Allocate (and measure, with --measure or --finetune), print, optionally save."""
    from tapq.allocate import compare

    if args.out:
        check_output_file(args.out, "--out")
    model, data, budgets, bits, tied = allocation_inputs(args, [args.proxy])
    measured = args.measure or bool(args.finetune)
    [row] = compare(model, data, budgets, [args.proxy], bits=bits, a_bits=args.a_bits,
                    settings=ptq_settings(args), pin_first_last=args.pin_first_last, tied=tied,
                    qat_epochs=qat_epochs(args), model_spec=args.model,
                    measure=measured, references=False, device=args.device,
                    stats_config=stats_config(args))
    if args.out:
        row.result.config.save(args.out)
    if args.json:
        print(json.dumps(row.to_json() if measured else
                         {"config": row.result.config.to_dict(), "size_mb": row.result.size_mb,
                          "bitops": row.result.bitops, "avg_w_bits": row.result.avg_w_bits,
                          "solve_ms": row.solve_ms}))
        return
    console.print(render.compare_table([row], f"{args.model}: {args.proxy} at "
                                       f"{', '.join(args.budget)}", measured=measured))
