"""The ``tapq`` command line: a thin layer over the Python API.

User mistakes (a bad spec, a missing file, an invalid bit-width) end in one line on
stderr and exit status 2; results are never printed half-way.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from tapq import render
from tapq.errors import TapqError
from tapq.progress import set_quiet

EXAMPLES = {
    "demo": "example: tapq demo",
    "quantize": "example: tapq quantize --model mnist-cnn --bits 4 --ptq adaround --json\n"
                "         tapq quantize --model mypkg.nets:build --weights net.pt --data mnist "
                "--config bits.json",
    "layers": "example: tapq layers --model mnist-cnn",
    "train": "example: tapq train mnist-cnn",
    "bench build": "example: tapq bench build --model mnist-cnn --out mnist.db --configs 600 "
                   "--workers 2",
    "bench info": "example: tapq bench info            # the shipped default benchmark\n"
                  "         tapq bench info mine.db --json",
    "proxy list": "example: tapq proxy list",
    "proxy eval": "example: tapq proxy eval            # all built-ins, default benchmark\n"
                  "         tapq proxy eval --bench mine.db --proxy hawq_v2 --proxy my_proxy.py",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, like every other tapq error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tapq", description="Mixed-precision quantization with proxies "
                     "discovered by an LLM (TAP).")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str, group=commands) -> argparse.ArgumentParser:
        return group.add_parser(name.split()[-1], help=help_text, description=help_text,
                                epilog=EXAMPLES[name],
                                formatter_class=argparse.RawDescriptionHelpFormatter)

    demo = command("demo", "Run the main job on the embedded default model.")
    demo.add_argument("--json", action="store_true", help="print one JSON object")

    quantize = command("quantize", "Quantize a model (PTQ) and report accuracy, size, BitOps.")
    _add_model_args(quantize)
    bits = quantize.add_mutually_exclusive_group(required=True)
    bits.add_argument("--bits", type=int, help="uniform weight bit-width (2..8, 32 = FP)")
    bits.add_argument("--config", help="bit configuration JSON file")
    quantize.add_argument("--a-bits", type=int, default=8,
                          help="activation bits with --bits (default 8)")
    quantize.add_argument("--pin-first-last", type=int, metavar="BITS",
                          help="hold the first and last layer at BITS (with --bits)")
    quantize.add_argument("--ptq", default="rtn", choices=("rtn", "adaround"),
                          help="weight rounding: round-to-nearest or AdaRound")
    quantize.add_argument("--act-clipping", default="mse",
                          choices=("mse", "percentile", "minmax"),
                          help="activation range method (default mse)")
    quantize.add_argument("--calib-size", type=int, default=256, help="calibration images")
    quantize.add_argument("--calib-seed", type=int, default=0, help="calibration sample seed")
    quantize.add_argument("--save-config", metavar="FILE", help="write the configuration used")
    quantize.add_argument("--json", action="store_true", help="print one JSON object")

    layers = command("layers", "List a model's quantizable layers with size and MACs.")
    _add_model_args(layers)
    layers.add_argument("--json", action="store_true", help="print JSON")

    train = command("train", "Retrain a built-in model from its seed (reproduces shipped weights).")
    train.add_argument("name", help="built-in model name, e.g. mnist-cnn")
    train.add_argument("--out", help="folder for the checkpoint (default: the package's)")

    bench = commands.add_parser("bench", help="Build and inspect ground-truth benchmarks.")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True,
                                          parser_class=_Parser)
    build = command("bench build", "Sample configurations, PTQ and measure each, into SQLite "
                    "(resumes if OUT exists).", bench_commands)
    _add_model_args(build)
    build.add_argument("--out", required=True, help="benchmark database file")
    build.add_argument("--configs", type=int, default=600, help="sampled configurations")
    build.add_argument("--bits", default="2,3,4,6,8", help="candidate weight bits")
    build.add_argument("--a-bits", type=int, default=8, help="activation bits")
    build.add_argument("--ptq", default="adaround", choices=("rtn", "adaround"))
    build.add_argument("--repeat", type=int, default=120,
                       help="configurations re-measured with a second calibration seed")
    build.add_argument("--calib-size", type=int, default=256, help="calibration images per PTQ")
    build.add_argument("--workers", type=int, default=1, help="worker processes")
    build.add_argument("--seed", type=int, default=0, help="sampling and calibration seed")
    info = command("bench info", "Counts, accuracy range, noise ceiling and splits of a "
                   "benchmark.", bench_commands)
    info.add_argument("file", nargs="?", help="benchmark database (default: the shipped "
                      "mnist-cnn benchmark)")
    info.add_argument("--json", action="store_true", help="print one JSON object")

    proxy = commands.add_parser("proxy", help="List proxies and score them on a benchmark.")
    proxy_commands = proxy.add_subparsers(dest="proxy_command", required=True,
                                          parser_class=_Parser)
    command("proxy list", "List the built-in (human baseline) proxies.", proxy_commands)
    evaluate = command("proxy eval", "Fitness of proxies on a benchmark (all built-ins by "
                       "default).", proxy_commands)
    evaluate.add_argument("--bench", help="benchmark database (default: the shipped "
                          "mnist-cnn benchmark)")
    evaluate.add_argument("--proxy", action="append", metavar="NAME|FILE.py",
                          help="a built-in proxy or a file defining sensitivity(layer, bits); "
                          "repeatable")
    evaluate.add_argument("--json", action="store_true", help="print a JSON list")
    return parser


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="mnist-cnn",
                        help="built-in name or package.module:factory (default mnist-cnn)")
    parser.add_argument("--weights", help="weights file (state dict) for the model")
    parser.add_argument("--data", help="dataset (mnist, digits); default: the model's own")


def _load(args: argparse.Namespace):
    from tapq.data import load_data
    from tapq.models import default_data_for, load_model

    model = load_model(args.model, args.weights)
    data_spec = args.data or default_data_for(args.model)
    if data_spec is None:
        raise TapqError(f"--data is required for user model {args.model!r}")
    return model, load_data(data_spec)


def _cmd_quantize(args: argparse.Namespace, console: Console) -> None:
    from tapq.measure import Measurer
    from tapq.quant import BitConfig, PTQSettings, uniform_config
    from tapq.quant.quantizers import check_bits

    if args.calib_size < 1:
        raise TapqError("--calib-size must be at least 1")
    model, data = _load(args)
    settings = PTQSettings(weight_rounding=args.ptq, act_clipping=args.act_clipping,
                           calib_size=args.calib_size, calib_seed=args.calib_seed)
    measurer = Measurer(model, data, settings)
    if args.config:
        config = BitConfig.load(args.config).validate(measurer.layer_names)
    else:
        check_bits(args.bits), check_bits(args.a_bits)
        config = uniform_config(measurer.layer_names, args.bits, args.a_bits,
                                pin_first_last=args.pin_first_last, model=args.model)
    result = measurer.measure(config)
    if args.save_config:
        config.save(args.save_config)
    if args.json:
        print(json.dumps(result.to_json()))
        return
    table = Table(title=f"{args.model} on {data.name} ({len(data.eval)} evaluation images), "
                  f"PTQ {args.ptq}")
    for column in ("FP acc", "quantized acc", "size MB", "BitOps (M)", "avg w-bits"):
        table.add_column(column, justify="right")
    table.add_row(f"{100 * result.fp_acc:.2f}%", f"{100 * result.q_acc:.2f}%",
                  f"{result.size_mb:.4f}", f"{result.bitops / 1e6:.1f}", f"{result.avg_w_bits:.2f}")
    console.print(table)


def _cmd_demo(args: argparse.Namespace, console: Console) -> None:
    from tapq.demo import run_demo

    result = run_demo()
    if args.json:
        print(json.dumps(result.to_json()))
        return
    console.print(render.ptq_table(result.rows, "mnist-cnn on mnist (2,000 evaluation images): "
                                   "PTQ accuracy"))
    console.print(render.bench_table(result.bench, "the default ground-truth benchmark"))
    console.print(render.fitness_table(result.fitness, "human baseline proxies on it "
                                       "(search split unless 'val')"))


def _cmd_layers(args: argparse.Namespace, console: Console) -> None:
    from tapq.quant import find_quantizable_layers, fold_batchnorm, measure_costs

    model, data = _load(args)
    costs = measure_costs(model, data.calib.x[:1])
    layers = find_quantizable_layers(fold_batchnorm(model, data.calib.x[:1])[0])
    if args.json:
        print(json.dumps([{"name": i.name, "kind": i.kind, "params": i.num_params,
                           "macs": costs.layers[i.name].macs} for i in layers]))
        return
    table = Table(title=f"quantizable layers of {args.model}")
    for column in ("#", "name", "kind", "params", "MACs"):
        table.add_column(column, justify="right" if column in ("#", "params", "MACs") else "left")
    for info in layers:
        table.add_row(str(info.index), info.name, info.kind, f"{info.num_params:,}",
                      f"{costs.layers[info.name].macs:,}")
    console.print(table)


def _cmd_train(args: argparse.Namespace, console: Console) -> None:
    from tapq.models import BUILTIN_MODELS, train_builtin

    if args.name not in BUILTIN_MODELS:
        raise TapqError(f"no built-in model {args.name!r}; built-ins: {', '.join(BUILTIN_MODELS)}")
    record = train_builtin(args.name, args.out)
    console.print(f"saved {record['path']}: eval accuracy {100 * record['eval_accuracy']:.2f}% "
                  f"in {record['train_seconds']:.0f} s")


def _cmd_bench(args: argparse.Namespace, console: Console) -> None:
    from tapq.bench import DEFAULT_BENCH, BenchSpec, BenchStore, bench_info, build_bench

    if args.bench_command == "build":
        try:
            bits = tuple(int(b) for b in args.bits.split(","))
        except ValueError:
            raise TapqError(f"--bits takes a comma-separated list of integers, not {args.bits!r}")
        spec = BenchSpec(model=args.model, weights=args.weights, data=args.data,
                         configs=args.configs, bits=bits, a_bits=args.a_bits, ptq=args.ptq,
                         seed=args.seed, repeat=args.repeat, calib_size=args.calib_size)
        if args.workers < 1:
            raise TapqError("--workers must be at least 1")
        build_bench(spec, args.out, workers=args.workers).close()
        args.file, args.json = args.out, False
    store = BenchStore(args.file or DEFAULT_BENCH)
    try:
        info = bench_info(store)
    finally:
        store.close()
    if args.json:
        print(json.dumps(info))
        return
    console.print(render.bench_table(info, f"benchmark {info['path']}"))


def _cmd_proxy(args: argparse.Namespace, console: Console) -> None:
    from tapq.bench import DEFAULT_BENCH
    from tapq.proxies import BASELINE_PROXIES
    from tapq.proxies.scoring import evaluate_proxies

    if args.proxy_command == "list":
        table = Table(title="built-in proxies: sensitivity(layer, bits)")
        table.add_column("name", style="bold")
        table.add_column("source and formula")
        for name, function in BASELINE_PROXIES.items():
            table.add_row(name, (function.__doc__ or "").strip().splitlines()[0])
        console.print(table)
        return
    bench = args.bench or DEFAULT_BENCH
    results = evaluate_proxies(bench, args.proxy)
    if args.json:
        print(json.dumps([r.to_json() for r in results]))
        return
    console.print(render.fitness_table(results, f"proxy fitness on {bench} "
                                       "(search split unless 'val')"))
    for result in results:
        if result.error:
            console.print(f"[red]{result.proxy} failed:[/red] {result.error}")


COMMANDS = {"demo": _cmd_demo, "quantize": _cmd_quantize, "layers": _cmd_layers,
            "train": _cmd_train, "bench": _cmd_bench, "proxy": _cmd_proxy}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tapq`` console script; returns the exit status."""
    args = _build_parser().parse_args(argv)
    set_quiet(args.quiet or getattr(args, "json", False))
    try:
        # Piped output is not wrapped at 80 columns: tables stay whole in files and logs.
        COMMANDS[args.command](args, Console(width=None if sys.stdout.isatty() else 160))
    except TapqError as error:
        print(f"tapq: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
