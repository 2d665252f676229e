"""``tapq bench build``, ``import``, ``set``, ``info`` and ``remeasure``: ground-truth benchmarks."""
from __future__ import annotations

import argparse
import json

from rich.console import Console

from tapq.cli import render
from tapq.cli.common import (Parser, add_device_arg, add_executor_args, add_model_args,
                             bit_list, data_spec_of, new_command)
from tapq.errors import TapqError

BUILD_EXAMPLE = ("example: tapq bench build --model mnist-cnn --out mnist.db --configs 600 "
                 "--workers 2")
IMPORT_EXAMPLE = ("example: tapq bench import measured.csv --model digits-cnn --out mine.db\n"
                  "         tapq proxy eval --bench mine.db")
REMEASURE_EXAMPLE = ("example: tapq bench remeasure mine.db --workers 2\n"
                     "         tapq bench remeasure mine.db --limit 240   # the first 240 "
                     "configurations")
SET_EXAMPLE = "example: tapq bench set old.db --splits 0.4,0.2,0.4 --target kl"
LIST_EXAMPLE = ("example: tapq bench list\n"
                "         tapq proxy eval --bench efficientnet-lite1   # a listed name")
INFO_EXAMPLE = ("example: tapq bench info            # the shipped default benchmark\n"
                "         tapq bench info mine.db --json")


def add_parser(commands) -> None:
    """Register ``tapq bench build``, ``import``, ``set``, ``info`` and ``remeasure``."""
    bench = commands.add_parser("bench", help="Build and inspect ground-truth benchmarks.")
    group = bench.add_subparsers(dest="bench_command", required=True, parser_class=Parser)
    build = new_command(group, "build", "Sample configurations, PTQ and measure each, into "
                        "SQLite (resumes if OUT exists).", BUILD_EXAMPLE, run_build)
    add_model_args(build)
    build.add_argument("--out", required=True, help="benchmark database file")
    build.add_argument("--configs", type=int, default=600, help="sampled configurations")
    build.add_argument("--bits", default="2,3,4,6,8", help="candidate weight bits")
    build.add_argument("--a-bits", type=int, default=8, help="activation bits")
    build.add_argument("--pin-first-last", type=int, metavar="BITS",
                       help="hold the first and last layer's weights at BITS in every "
                       "sampled configuration (as deployed); they are not measured alone")
    build.add_argument("--no-layer-rows", action="store_true",
                       help="skip measuring each layer alone at each bit-width (saves "
                       "layers x bits measurements; discovery's diagnosis then has none)")
    build.add_argument("--ptq", default="adaround", choices=("rtn", "adaround"))
    build.add_argument("--repeat", type=int, default=120,
                       help="configurations re-measured with a second calibration seed")
    build.add_argument("--calib-size", type=int, default=256, help="calibration images per PTQ")
    build.add_argument("--target", default="accuracy", choices=("accuracy", "kl", "agreement"),
                       help="primary target proxies are ranked against (all three are "
                       "measured)")
    build.add_argument("--splits", default="0.40,0.20,0.40", metavar="SEARCH,SELECT,TEST",
                       help="shares of the search / select / test splits")
    add_executor_args(build, "configurations")
    build.add_argument("--seed", type=int, default=0, help="sampling and calibration seed")
    add_device_arg(build)
    imported = new_command(group, "import", "A ground truth measured elsewhere (CSV or JSON "
                           "of per-layer bits and measured values) as a benchmark.",
                           IMPORT_EXAMPLE, run_import)
    imported.add_argument("file", help="CSV (header: layer names, accuracy/kl/agreement, "
                          "optional split) or JSON list of {w: {layer: bits}, accuracy: ...}")
    imported.add_argument("--out", required=True, help="benchmark database file to write")
    imported.add_argument("--model", default="mnist-cnn", help="the model the configurations "
                          "are of (proxies' statistics are computed on it)")
    imported.add_argument("--weights", help="weights file (state dict) for the model")
    imported.add_argument("--data", help="data its statistics are computed on (default: the "
                          "model's own)")
    imported.add_argument("--target", choices=("accuracy", "kl", "agreement"),
                          help="primary target (default: accuracy if every row has it)")
    imported.add_argument("--splits", default="0.40,0.20,0.40", metavar="SEARCH,SELECT,TEST",
                          help="shares for rows without a split column")
    update = new_command(group, "set", "Re-assign the search/select/test splits and/or declare "
                         "the primary target of an existing benchmark (no re-measuring).",
                         SET_EXAMPLE, run_set)
    update.add_argument("file", help="benchmark database")
    update.add_argument("--target", choices=("accuracy", "kl", "agreement"),
                        help="the target proxies are ranked against from now on")
    update.add_argument("--splits", metavar="SEARCH,SELECT,TEST",
                        help="re-assign splits with these shares (balanced within bands)")
    info = new_command(group, "info", "Counts, accuracy range, noise ceiling and splits of a "
                       "benchmark.", INFO_EXAMPLE, run_info)
    info.add_argument("file", nargs="?", help="benchmark database (default: the shipped "
                      "mnist-cnn benchmark)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    listing = new_command(group, "list", "The benchmarks shipped with tapq: model, target, "
                          "size, splits and ceiling of each (any command's --bench takes the "
                          "name).", LIST_EXAMPLE, run_list)
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    remeasure = new_command(group, "remeasure", "Measure the targets on the two evaluation "
                            "halves for a benchmark built without them (resumable), for the "
                            "ceilings from independent halves.", REMEASURE_EXAMPLE,
                            run_remeasure)
    remeasure.add_argument("file", help="benchmark database (updated in place)")
    remeasure.add_argument("--limit", type=int, help="only the first N sampled configurations "
                           "(they span every average-bit band; default: all)")
    add_executor_args(remeasure, "configurations")
    add_device_arg(remeasure)


def run_build(args: argparse.Namespace, console: Console) -> None:
    """Build (or resume) a benchmark, then show its info."""
    from tapq.bench import BenchSpec, build_bench
    from tapq.executors import make_executor

    bits = tuple(bit_list(args.bits))
    spec = BenchSpec(model=args.model, weights=args.weights, data=data_spec_of(args),
                     configs=args.configs, bits=bits, a_bits=args.a_bits, ptq=args.ptq,
                     seed=args.seed, repeat=args.repeat, calib_size=args.calib_size,
                     target=args.target, splits=_shares(args.splits),
                     pin_first_last=args.pin_first_last,
                     layer_sensitivity=not args.no_layer_rows)
    if args.workers < 1:
        raise TapqError("--workers must be at least 1")
    with make_executor(args.executor, args.workers, args.ray_address) as executor:
        build_bench(spec, args.out, executor=executor, device=args.device).close()
    show_info(args.out, False, console)


def _shares(text: str) -> tuple[float, float, float]:
    try:
        shares = tuple(float(x) for x in text.split(","))
    except ValueError:
        shares = ()
    if len(shares) != 3 or min(shares) <= 0:
        raise TapqError(f"--splits needs three positive shares SEARCH,SELECT,TEST, not {text!r}")
    return shares


def run_import(args: argparse.Namespace, console: Console) -> None:
    """Import a ground-truth file as a benchmark, then show its info."""
    from tapq.bench import import_bench

    import_bench(args.file, args.out, args.model, args.weights, args.data, args.target,
                 _shares(args.splits)).close()
    show_info(args.out, False, console)


def run_remeasure(args: argparse.Namespace, console: Console) -> None:
    """Measure half values into an existing benchmark, then show its info."""
    from tapq.bench import remeasure_halves
    from tapq.executors import make_executor

    if args.workers < 1:
        raise TapqError("--workers must be at least 1")
    with make_executor(args.executor, args.workers, args.ray_address) as executor:
        done = remeasure_halves(args.file, args.limit, executor=executor, device=args.device)
    console.print(f"measured the halves of {done.measured} (configuration, seed) pairs in "
                  f"{done.seconds:.0f} s ({done.skipped} already had them)")
    show_info(args.file, False, console)


def run_set(args: argparse.Namespace, console: Console) -> None:
    """Re-split and/or re-target a benchmark, then show its info."""
    from tapq.bench import BenchStore
    from tapq.bench.ground_truth import set_splits_and_target

    if args.target is None and args.splits is None:
        raise TapqError("give --target and/or --splits")
    shares = _shares(args.splits) if args.splits else None
    store = BenchStore(args.file)
    try:
        set_splits_and_target(store, shares, args.target)
    finally:
        store.close()
    show_info(args.file, False, console)


def run_info(args: argparse.Namespace, console: Console) -> None:
    """Show a benchmark's info (default: the shipped one)."""
    from tapq.bench import DEFAULT_BENCH

    show_info(args.file or DEFAULT_BENCH, args.json, console)


def run_list(args: argparse.Namespace, console: Console) -> None:
    """One row per shipped benchmark, from its own metadata and measurements."""
    from tapq.bench import BenchStore, bench_info, shipped_benches

    rows = []
    for name, path in shipped_benches().items():
        with BenchStore(path) as store:
            info = bench_info(store)
        rows.append({"name": name, "path": str(path), "model": info["model"],
                     "data": info["data"], "ptq": info["ptq"], "bits": info["bits"],
                     "target": info["target"], "configs": info["configs"],
                     "splits": {k: info[k] for k in ("search", "select", "test")},
                     "eval_size": info["eval_size"],
                     "ceiling": info.get("ceiling"), "ceiling_ci": info.get("ceiling_ci"),
                     "ceiling_source": info.get("ceiling_source")})
    if args.json:
        print(json.dumps(rows))
        return
    console.print(render.bench_list_table(rows))


def show_info(path, as_json: bool, console: Console) -> None:
    """``bench_info`` of the benchmark at `path`, as JSON or a table."""
    from tapq.bench import BenchStore, bench_info

    store = BenchStore(path)
    try:
        info = bench_info(store)
    finally:
        store.close()
    if as_json:
        print(json.dumps(info))
        return
    console.print(render.bench_table(info, f"benchmark {info['path']}"))
    console.print(render.ceiling_table(info, "proxy ceiling: the most a proxy's ρ can be "
                                             "against one stored measurement"))
