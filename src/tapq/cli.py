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

from tapq import cli_discover, cli_report, render
from tapq.errors import TapqError
from tapq.executors import add_executor_arguments
from tapq.outputs import check_output_file, check_output_folder
from tapq.progress import set_quiet

EXAMPLES = {
    "demo": "example: tapq demo                      # everything, offline, ~15 min\n"
            "         tapq demo --no-discovery       # PTQ, benchmark and baselines only",
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
    "allocate": "example: tapq allocate --proxy hawq_v2 --budget avg-bits=3 --measure\n"
                "         tapq allocate --proxy my_proxy.py --budget size-mb=0.015 "
                "--out bits.json --json",
    "compare": "example: tapq compare --budget avg-bits=3 --proxies hawq_v2,fisher,size\n"
               "         tapq compare --sweep --budget avg-bits=3 --budget avg-bits=4\n"
               "         tapq compare --budget bitops=2e8 --proxies fisher --finetune qat "
               "--epochs 2",
    "proxy eval": "example: tapq proxy eval            # all built-ins, default benchmark\n"
                  "         tapq proxy eval --bench mine.db --proxy hawq_v2 --proxy my_proxy.py",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, like every other tapq error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tapq: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(message: object) -> str:
    """The message on one line: the rule is one line of error, however it was raised."""
    return " ".join(str(message).split())


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tapq", description="Mixed-precision quantization with proxies "
                     "discovered by an LLM (TAP).")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str, group=commands) -> argparse.ArgumentParser:
        return group.add_parser(name.split()[-1], help=help_text, description=help_text,
                                epilog=EXAMPLES.get(name),
                                formatter_class=argparse.RawDescriptionHelpFormatter)

    demo = command("demo", "Run the main job on the embedded default model: PTQ, the "
                   "benchmark, baselines, discovery with the embedded LLM, allocation.")
    demo.add_argument("--out", default="tapq-demo", help="folder of the run (default "
                      "tapq-demo; an existing run there is continued)")
    demo.add_argument("--llm", default="embedded", help="LLM for discovery (default: the "
                      "embedded offline model)")
    demo.add_argument("--generations", type=int, default=3, help="discovery generations")
    demo.add_argument("--population", type=int, default=6, help="discovery population")
    demo.add_argument("--no-discovery", action="store_true",
                      help="stop after the baseline proxies (no LLM)")
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    _add_device_arg(demo)

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
    quantize.add_argument("--save-model", metavar="FILE", help="save the quantized model "
                          "(state dict with the configuration embedded; tapq.load_quantized)")
    quantize.add_argument("--json", action="store_true", help="print one JSON object")
    _add_device_arg(quantize)

    layers = command("layers", "List a model's quantizable layers with size and MACs.")
    _add_model_args(layers)
    layers.add_argument("--json", action="store_true", help="print JSON")
    _add_device_arg(layers)

    train = command("train", "Retrain a built-in model from its seed (reproduces shipped weights).")
    train.add_argument("name", help="built-in model name, e.g. mnist-cnn")
    train.add_argument("--out", help="folder for the checkpoint (default: the package's)")
    _add_device_arg(train)

    allocate = command("allocate", "Choose bits per layer with a proxy under a budget (MILP).")
    _add_model_args(allocate)
    _add_budget_args(allocate)
    allocate.add_argument("--proxy", required=True, metavar="NAME|FILE.py",
                          help="built-in proxy or a file defining sensitivity(layer, bits)")
    allocate.add_argument("--measure", action="store_true",
                          help="PTQ the chosen configuration and report accuracy")
    allocate.add_argument("--out", help="write the bit configuration JSON here")
    allocate.add_argument("--json", action="store_true", help="print one JSON object")
    _add_device_arg(allocate)

    compare = command("compare", "Several proxies at one budget, plus uniform precision and "
                      "the benchmark oracle, all measured.")
    _add_model_args(compare)
    _add_budget_args(compare)
    compare.add_argument("--proxies", default="hawq_v2,fisher,ompq,size",
                         help="comma-separated built-in names or .py files")
    compare.add_argument("--bench", help="benchmark of this model for the oracle row "
                         "(default: the shipped one for mnist-cnn)")
    compare.add_argument("--sweep", action="store_true", help="one comparison per --budget "
                         "(a Pareto sweep) instead of all budgets at once")
    compare.add_argument("--json", action="store_true", help="print a JSON list")
    _add_device_arg(compare)

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
    add_executor_arguments(build, "configurations")
    build.add_argument("--seed", type=int, default=0, help="sampling and calibration seed")
    _add_device_arg(build)
    info = command("bench info", "Counts, accuracy range, noise ceiling and splits of a "
                   "benchmark.", bench_commands)
    info.add_argument("file", nargs="?", help="benchmark database (default: the shipped "
                      "mnist-cnn benchmark)")
    info.add_argument("--json", action="store_true", help="print one JSON object")

    cli_discover.add_parser(command)
    cli_report.add_parser(command)
    for name in ("discover", "report"):
        _add_device_arg(commands.choices[name])

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
    _add_device_arg(evaluate)
    return parser


def _add_device_arg(parser: argparse.ArgumentParser) -> None:
    """``--device``, on every command that runs a model; checked in `main` before any work."""
    parser.add_argument("--device", default="cpu", metavar="cpu|cuda|cuda:N",
                        help="where models run (default cpu); data stays in host memory and "
                        "moves a batch at a time")


def _add_model_args(parser: argparse.ArgumentParser) -> None:
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


def _add_budget_args(parser: argparse.ArgumentParser) -> None:
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


def _bit_list(text: str) -> list[int]:
    from tapq.quant.quantizers import check_bits

    try:
        bits = sorted({int(b) for b in text.split(",")})
    except ValueError:
        raise TapqError(f"--bits takes a comma-separated list of integers, not {text!r}")
    for b in bits:
        check_bits(b)
    return bits


def _allocation_inputs(args: argparse.Namespace, proxies: list[str]):
    """Model, data, budgets, bits, pins and ties from the shared allocation flags; every
    flag and proxy file is checked before the model is loaded."""
    from tapq.allocate import Budget
    from tapq.proxies.scoring import load_proxy
    from tapq.quant import find_quantizable_layers
    from tapq.quant.quantizers import check_bits

    budgets = [Budget.parse(text) for text in args.budget]
    bits = _bit_list(args.bits)
    check_bits(args.a_bits)
    if args.finetune and args.epochs < 1:
        raise TapqError("--epochs must be at least 1")
    for proxy in proxies:
        load_proxy(proxy)
    model, data = _load(args)
    layers = [info.name for info in find_quantizable_layers(model, data.calib.x[:1])]
    pinned = {}
    if args.pin_first_last is not None:
        if args.pin_first_last not in bits:
            raise TapqError(f"--pin-first-last {args.pin_first_last} is not in --bits {bits}")
        pinned = {layers[0]: args.pin_first_last, layers[-1]: args.pin_first_last}
    tied = [group.split(",") for group in args.tie]
    return model, data, budgets, bits, pinned, tied


def _cmd_allocate(args: argparse.Namespace, console: Console) -> None:
    from tapq.allocate.workflow import compare

    if args.out:
        check_output_file(args.out, "--out")
    model, data, budgets, bits, pinned, tied = _allocation_inputs(args, [args.proxy])
    measured = args.measure or bool(args.finetune)
    [row] = compare(model, data, budgets, [args.proxy], bits=bits, a_bits=args.a_bits,
                    settings=_ptq_settings(args), pinned=pinned, tied=tied,
                    qat_epochs=_qat_epochs(args), model_spec=args.model,
                    measure=measured, references=False, device=args.device)
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


def _cmd_compare(args: argparse.Namespace, console: Console) -> None:
    from tapq.allocate.workflow import Comparer, pareto_sweep
    from tapq.bench import DEFAULT_BENCH, BenchStore

    proxies = [p for p in args.proxies.split(",") if p]
    if args.bench:
        BenchStore(args.bench).close()  # a damaged file fails before the model loads
    model, data, budgets, bits, pinned, tied = _allocation_inputs(args, proxies)
    bench = args.bench or (str(DEFAULT_BENCH) if args.model == "mnist-cnn" and not args.weights
                           else None)
    comparer = Comparer(model, data, proxies, bits=bits, a_bits=args.a_bits,
                        settings=_ptq_settings(args), pinned=pinned, tied=tied, bench=bench,
                        qat_epochs=_qat_epochs(args), model_spec=args.model,
                        device=args.device)
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


def _ptq_settings(args: argparse.Namespace):
    from tapq.quant import PTQSettings

    return PTQSettings(weight_rounding=args.ptq)


def _qat_epochs(args: argparse.Namespace) -> int:
    return args.epochs if args.finetune == "qat" else 0


def _data_spec(args: argparse.Namespace) -> str | None:
    """The canonical data spec of --data (or the model's own) with --calib-n / --eval-n
    folded in, so that every process and the benchmark metadata see the same string."""
    from tapq.data import DataSpec
    from tapq.models import default_data_for

    for flag, value in (("--calib-n", args.calib_n), ("--eval-n", args.eval_n)):
        if value is not None and value < 1:
            raise TapqError(f"{flag} must be at least 1")
    spec = args.data or default_data_for(args.model)
    if spec is None:
        return None
    return DataSpec.parse(spec).with_sizes(args.calib_n, args.eval_n).format()


def _load(args: argparse.Namespace):
    from tapq.data import load_data
    from tapq.models import check_fits, load_model

    data_spec = _data_spec(args)  # a bad data spec fails before the model loads
    if data_spec is None and ":" in args.model:
        raise TapqError(f"--data is required for user model {args.model!r}")
    model = load_model(args.model, args.weights)
    data = load_data(data_spec)
    check_fits(model, data, args.model)
    return model, data


def _cmd_quantize(args: argparse.Namespace, console: Console) -> None:
    from tapq.measure import Measurer
    from tapq.quant import BitConfig, PTQSettings, uniform_config
    from tapq.quant.quantizers import check_bits

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
    model, data = _load(args)
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
        from tapq.quant import save_quantized

        save_quantized(measurer.engine.quantize(config), config, args.save_model)
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
    from pathlib import Path

    from tapq.demo import DemoSettings, run_demo

    settings = DemoSettings(out=Path(args.out), discover=not args.no_discovery, llm=args.llm,
                            generations=args.generations, population=args.population,
                            device=str(args.device))
    if settings.discover:  # the discovery settings are checked before the first PTQ minute
        _check_demo_discovery(settings)

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
            console.print(render.fitness_table(value, "human baseline proxies on it "
                                               "(search split unless 'val')"))
        elif stage == "discovery":
            cli_discover.show_discovery(value, console)
            shown["discovery"] = value
        elif stage == "compare":
            cli_discover.show_compare(value, settings.budget, console)
            cli_discover.show_outputs(shown["discovery"], console)
        elif stage == "report" and value is not None:
            console.print(f"[bold]report:[/bold] {value.html.resolve()}")

    result = run_demo(settings, show)
    if args.json:
        print(json.dumps(result.to_json()))


def _check_demo_discovery(settings) -> None:
    from tapq.discover import DiscoverConfig
    from tapq.discover.evolution import RUN_DB

    for flag in ("generations", "population"):
        if getattr(settings, flag) < 1:
            raise TapqError(f"--{flag} must be at least 1")
    check_output_folder(settings.out, "--out")
    cli_discover.check_llm(settings.llm)
    config = DiscoverConfig(out=settings.out, llm=settings.llm,
                            generations=settings.generations, population=settings.population)
    cli_discover.check_run_folder(config, resume=(settings.out / RUN_DB).exists())


def _cmd_layers(args: argparse.Namespace, console: Console) -> None:
    from tapq.quant import find_quantizable_layers, fold_batchnorm, measure_costs

    model, data = _load(args)
    model, sample = model.to(args.device), data.calib.x[:1].to(args.device)
    costs = measure_costs(model, sample)
    layers = find_quantizable_layers(fold_batchnorm(model, sample)[0], sample)
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
    if args.out:
        check_output_folder(args.out, "--out")
    record = train_builtin(args.name, args.out, args.device)
    console.print(f"saved {record['path']}: eval accuracy {100 * record['eval_accuracy']:.2f}% "
                  f"in {record['train_seconds']:.0f} s")


def _cmd_bench(args: argparse.Namespace, console: Console) -> None:
    from tapq.bench import DEFAULT_BENCH, BenchSpec, BenchStore, bench_info, build_bench
    from tapq.executors import make_executor

    if args.bench_command == "build":
        bits = tuple(_bit_list(args.bits))
        spec = BenchSpec(model=args.model, weights=args.weights, data=_data_spec(args),
                         configs=args.configs, bits=bits, a_bits=args.a_bits, ptq=args.ptq,
                         seed=args.seed, repeat=args.repeat, calib_size=args.calib_size)
        if args.workers < 1:
            raise TapqError("--workers must be at least 1")
        with make_executor(args.executor, args.workers, args.ray_address) as executor:
            build_bench(spec, args.out, executor=executor, device=args.device).close()
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
    results = evaluate_proxies(bench, args.proxy, args.device)
    if args.json:
        print(json.dumps([r.to_json() for r in results]))
        return
    console.print(render.fitness_table(results, f"proxy fitness on {bench} "
                                       "(search split unless 'val')"))
    for result in results:
        if result.error:
            console.print(f"[red]{result.proxy} failed:[/red] {result.error}")


COMMANDS = {"demo": _cmd_demo, "quantize": _cmd_quantize, "layers": _cmd_layers,
            "train": _cmd_train, "bench": _cmd_bench, "proxy": _cmd_proxy,
            "allocate": _cmd_allocate, "compare": _cmd_compare, "discover": cli_discover.run,
            "report": cli_report.run}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tapq`` console script; returns the exit status."""
    args = _build_parser().parse_args(argv)
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
        COMMANDS[args.command](args, Console(width=None if sys.stdout.isatty() else 160))
    except TapqError as error:
        print(f"tapq: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Every result is committed as it is made (benchmarks, discovery runs) and every
        # output file is renamed into place, so stopping loses only the work in flight.
        print("tapq: interrupted; finished results are kept (rerun the same command, or "
              "add --resume for discover)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
