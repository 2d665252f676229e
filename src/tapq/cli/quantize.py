"""``tapq quantize``: PTQ a model under uniform bits or a configuration file, and measure it."""
from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from tapq.cli.common import add_device_arg, add_model_args, load_model_and_data_of, new_command
from tapq.errors import TapqError
from tapq.outputs import check_output_file

EXAMPLE = ("example: tapq quantize --model mnist-cnn --bits 4 --ptq adaround --json\n"
           "         tapq quantize --model mypkg.nets:build --weights net.pt --data mnist "
           "--config bits.json")


def add_parser(commands) -> None:
    """Register ``tapq quantize``."""
    parser = new_command(commands, "quantize", "Quantize a model (PTQ) and report accuracy, "
                         "size, BitOps.", EXAMPLE, run)
    add_model_args(parser)
    bits = parser.add_mutually_exclusive_group(required=True)
    bits.add_argument("--bits", type=int, help="uniform weight bit-width (2..8, 32 = FP)")
    bits.add_argument("--config", help="bit configuration JSON file")
    parser.add_argument("--a-bits", type=int, default=8,
                        help="activation bits with --bits (default 8)")
    parser.add_argument("--pin-first-last", type=int, metavar="BITS",
                        help="hold the first and last layer at BITS (with --bits)")
    parser.add_argument("--ptq", default="rtn", choices=("rtn", "adaround"),
                        help="weight rounding: round-to-nearest or AdaRound")
    parser.add_argument("--act-clipping", default="mse", choices=("mse", "percentile", "minmax"),
                        help="activation range method (default mse)")
    parser.add_argument("--calib-size", type=int, default=256, help="calibration images")
    parser.add_argument("--calib-seed", type=int, default=0, help="calibration sample seed")
    parser.add_argument("--save-config", metavar="FILE", help="write the configuration used")
    parser.add_argument("--save-model", metavar="FILE", help="save the quantized model "
                        "(state dict with the configuration embedded; tapq.load_quantized)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_device_arg(parser)


def run(args: argparse.Namespace, console: Console) -> None:
    """Quantize, measure, print; optionally save the configuration and the model."""
    from tapq.measure import Measurer
    from tapq.quant import BitConfig, PTQSettings, check_bits, save_quantized, uniform_config

    if args.calib_size < 1:
        raise TapqError("--calib-size must be at least 1")
    for flag, path in (("--save-config", args.save_config), ("--save-model", args.save_model)):
        if path:
            check_output_file(path, flag)
    # What can be checked without the model is checked before loading it.
    loaded = BitConfig.load(args.config) if args.config else None
    if loaded is None:
        check_bits(args.bits), check_bits(args.a_bits)
        if args.pin_first_last is not None:
            check_bits(args.pin_first_last)
    model, data = load_model_and_data_of(args)
    settings = PTQSettings(weight_rounding=args.ptq, act_clipping=args.act_clipping,
                           calib_size=args.calib_size, calib_seed=args.calib_seed)
    measurer = Measurer(model, data, settings, args.device)
    if loaded is not None:
        config = loaded.validate(measurer.layer_names)
    else:
        config = uniform_config(measurer.layer_names, args.bits, args.a_bits,
                                pin_first_last=args.pin_first_last, model=args.model)
    result = measurer.measure(config)
    if args.save_config:
        config.save(args.save_config)
    if args.save_model:
        save_quantized(measurer.engine.quantize(config), config, args.save_model)
    if args.json:
        print(json.dumps(result.to_json()))
        return
    table = Table(title=f"{args.model} on {data.name} ({len(data.eval)} evaluation images), "
                  f"PTQ {args.ptq}")
    # Label-free data has no accuracy: its target is agreement with full precision.
    target = (("FP acc", f"{100 * result.fp_acc:.2f}%"),
              ("quantized acc", f"{100 * result.q_acc:.2f}%")) if data.labelled else ()
    cells = (*target, ("top-1 agreement with FP", f"{100 * result.agreement:.2f}%"),
             ("KL to FP (nats)", f"{result.kl:.4f}"), ("size MB", f"{result.size_mb:.4f}"),
             ("BitOps (M)", f"{result.bitops / 1e6:.1f}"),
             ("avg w-bits", f"{result.avg_w_bits:.2f}"))
    for column, _ in cells:
        table.add_column(column, justify="right")
    table.add_row(*(value for _, value in cells))
    console.print(table)
