"""`write_report`: one HTML page (and its figures as PNG) for a discovery run or a benchmark.

For a run: fitness per generation, the strategy controller's trajectory, score-vs-accuracy
of the best novel and best human proxy, measured Pareto curves, bits per layer at the
default budget, the benchmarks searched (several: each one's fitness), the leaderboard
(seeds, novel candidates and copies marked), the best novel proxy's thought and code, the
transfer check on the shipped benchmarks the run did not search, and metadata.
For a benchmark alone: its reliability, per-layer sensitivity and the human proxies.
"""
from __future__ import annotations

import datetime
import math
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from tapq.device import DeviceLike
from tapq.discover import BEST_PROXY, kind_of
from tapq.discover.results import select_fitness
from tapq.errors import TapqError
from tapq.outputs import atomic_path, write_text_atomic
from tapq.report import figures
from tapq.report import html as H
from tapq.proxies import iso_undefined
from tapq.report.data import (BenchView, ProxyView, RunView, baseline_views, best_human_view,
                              load_bench_view, load_run_view, proxy_view, with_test_intervals)
from tapq.report.sweep import DEFAULT_BUDGETS, pareto_points
from tapq.report.transfer import benches_section, transfer_section

REPORT = "report.html"
FIGURES = "report_figures"


@dataclass(frozen=True)
class ReportResult:
    """Where the report and its figures were written."""

    html: Path
    figures: list[Path]


def _ceiling(info: dict, value: float) -> str:
    """The pooled proxy ceiling with its 95% interval (bench_info), or `value` alone."""
    ci = info.get("ceiling_ci")
    if info.get("ceiling") is None or not ci:
        return _fmt(value)
    return f"{info['ceiling']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) and math.isfinite(x) else "-"


class _Figures:
    """Saves each figure as PNG under `folder` and returns its inline <img>."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.paths: list[Path] = []

    def __call__(self, name: str, fig, alt: str) -> str:
        png = H.png_bytes(fig)
        plt.close(fig)
        path = self.folder / f"{name}.png"
        with atomic_path(path) as partial:
            partial.write_bytes(png)
        self.paths.append(path)
        return H.image(png, alt)


def _write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, text)


def _versions() -> str:
    names = ("tapq", "torch", "numpy", "scipy", "llama_cpp_python", "openai", "matplotlib")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name.replace('_', '-'))}")
        except metadata.PackageNotFoundError:
            continue
    return f"Python {platform.python_version()}; " + ", ".join(found)


def write_report(run: str | Path | None = None, bench: str | Path | None = None,
                 out: str | Path | None = None, budget: float = 3.0,
                 budgets: tuple[float, ...] = DEFAULT_BUDGETS,
                 sweep_ptq: str | None = None, device: DeviceLike = None) -> ReportResult:
    """Write the report of discovery run folder `run`, or of benchmark `bench` alone.

    The run report measures each proxy's allocation at average-bit `budgets` with
    `sweep_ptq` (default: the benchmark's PTQ) on `device` (default CPU), cached in the
    run folder so a second report is quick; `budget` is the one whose bits per layer
    are drawn.
    """
    if run is None and bench is None:
        raise TapqError("give a discovery run folder or --bench FILE.db")
    if run is not None:
        view = load_run_view(run)
        out = Path(out) if out else Path(run) / REPORT
        return _run_report(view, out, budget, budgets, sweep_ptq, device)
    out = Path(out) if out else Path(bench).with_suffix(".report.html")
    return _bench_report(load_bench_view(bench), out, device)


def _run_report(run: RunView, out: Path, budget: float, budgets: tuple[float, ...],
                sweep_ptq: str | None, device: DeviceLike = None) -> ReportResult:
    config = run.meta["config"]
    gp = config.get("search") == "gp"  # the symbolic baseline: no LLM, no controller
    bench = load_bench_view(config["bench"])
    humans = baseline_views(bench, device)
    human = best_human_view(humans)
    best = run.summary.best
    save = _Figures(out.parent / FIGURES)
    sections, cards = [], []
    discovered = None  # the best *novel* candidate: a copy of a seed is never shown as one
    if best is not None and best.table is not None:
        discovered = proxy_view("discovered (best novel)", np.array(best.table), bench,
                                discovered=True)
    everyone = with_test_intervals(bench, humans + ([discovered] if discovered else []),
                                   human.name if human else None)
    humans = everyone[:len(humans)]
    human = next((v for v in humans if human is not None and v.name == human.name), None)
    discovered = everyone[-1] if discovered else None
    cards += _run_cards(run, bench, discovered, human, gp)
    if run.meta.get("isolated") is False:  # said up front, not only in the metadata table
        cards.append(H.Card("NOT ISOLATED", "candidates ran without the sandbox's OS "
                            "boundary (--allow-unisolated)"))
    sections.append(_progress_section(run, save, gp))
    pair = [v for v in (discovered, human) if v is not None]
    if not pair:
        sections.append(H.section(
            "No proxy to show", "The run has no valid candidate and no human baseline has a "
            "finite iso-budget ρ on this benchmark: "
            + (iso_undefined(bench.data) or "every proxy failed") + "."))
    else:
        sections.append(H.section(
            f"Does the score rank the measured {bench.data.target}?",
            "Each dot is a configuration of the benchmark, quantized and measured; a good "
            "proxy puts a better target at higher −S. ρ iso compares configurations of equal "
            "size.",
            save("score_vs_accuracy", figures.score_scatter(bench, pair), "score vs target")))
    proxies = {human.name: human.name} if human else {}
    if discovered is not None and (run.path / BEST_PROXY).is_file():
        proxies = {"discovered (best novel)": str(run.path / BEST_PROXY), **proxies}
    budgets = tuple(sorted(set(budgets) | {budget}))
    points = [] if not proxies else pareto_points(
        config["bench"], proxies, budgets, cache=run.path / "report_sweep.json", ptq=sweep_ptq,
        device=device)
    sections.append(H.section(
        "What the proxies buy: measured accuracy against cost",
        f"Each proxy's MILP allocation at average ≤ {', '.join(f'{b:g}' for b in budgets)} "
        f"weight bits, quantized with {sweep_ptq or 'the benchmark'}'s PTQ and measured; "
        "grey dots are the benchmark's sampled configurations and the black line their best "
        "(the oracle); diamonds are uniform precision.",
        save("pareto_size", figures.pareto(bench, points, "size_mb"), "accuracy vs size"),
        save("pareto_bitops", figures.pareto(bench, points, "bitops"), "accuracy vs BitOps"),
        grid=True))
    everyone = humans + ([discovered] if discovered else [])
    sections.append(H.section(
        f"Where the bits go at average ≤ {budget:g} bits, and every proxy's fitness",
        "Left: bits per layer chosen by each proxy, input layer first. Right: iso-budget ρ "
        "of every proxy on the search split (dark) and the test split (light) with its 95% "
        "interval.",
        save("bits_per_layer", figures.bits_per_layer(points, bench.data.layers, budget),
             "bits per layer"),
        save("proxies", figures.baselines(everyone, bench.ceiling_iso), "proxy fitness"),
        grid=True))
    searched = benches_section(run)
    if searched is not None:
        sections.append(searched)
    sections.append(_leaderboard(run))
    sections.append(_best_section(run, discovered, humans, gp))
    sections.append(transfer_section(run))
    sections.append(_metadata(run, bench))
    title = "tapq discovery report"
    subtitle = (f"{run.path.resolve()} · benchmark {bench.info['model']} on "
                f"{bench.info['data']} · "
                + ("GP search (no LLM)" if gp else f"LLM {run.meta.get('llm', '?')}"))
    _write(out, H.page(title, subtitle, cards, sections, _footer()))
    return ReportResult(out, save.paths)


def _with_ci(f) -> str:
    low, high = f.spearman_iso_ci
    if not (math.isfinite(low) and math.isfinite(high)):
        return _fmt(f.spearman_iso_test)
    return f"{_fmt(f.spearman_iso_test)} [{low:.2f}, {high:.2f}]"


def comparison_text(discovered: ProxyView | None, human: ProxyView | None) -> str:
    """How the discovered proxy compares with the best human one on the test split, in
    words that follow the interval: "beats" only when it excludes 0."""
    if discovered is None:
        return "no novel proxy (nothing discovered)"
    if human is None:
        return "no human baseline to compare with"
    f = discovered.fitness
    if f.reference != human.name or not math.isfinite(f.delta_iso):
        return f"not comparable with {human.name} on the test split"
    low, high = f.delta_iso_ci
    return (f"{f.verdict} {human.name}: Δ {f.delta_iso:+.3f} "
            f"[{low:+.3f}, {high:+.3f}]")


def _run_cards(run: RunView, bench: BenchView, discovered: ProxyView | None,
               human: ProxyView | None, gp: bool = False) -> list:
    f_d = discovered.fitness if discovered else None
    f_h = human.fitness if human else None
    return [H.Card(_fmt(f_d.spearman_iso) if f_d else "none", "best novel ρ iso (search)",
                   "discovered"),
            H.Card(_with_ci(f_d) if f_d else "-", "… on test, 95% CI", "discovered"),
            H.Card(_fmt(f_h.spearman_iso) if f_h else "-",
                   f"best human: {human.name}" if human else "best human: none finite",
                   "human"),
            H.Card(_with_ci(f_h) if f_h else "-", "… on test, 95% CI", "human"),
            H.Card(comparison_text(discovered, human), "best novel vs best human (test)"),
            H.Card(_ceiling(bench.info, bench.ceiling_iso), "proxy ceiling (iso, 95% CI)"),
            H.Card(f"{run.summary.valid}/{run.summary.candidates}", "valid candidates"),
            H.Card(f"{run.summary.novel}", (f"novel ({run.summary.copies} copies, "
                                            f"{run.summary.seeds} seeds)")),
            H.Card("GP", "search (no LLM)") if gp else
            H.Card(f"{run.summary.prompt_tokens + run.summary.completion_tokens:,}",
                   "LLM tokens"),
            H.Card(f"{run.meta.get('wall_seconds', 0) / 60:.1f} min", "wall time")]


def _leaderboard(run: RunView, limit: int = 15) -> str:
    rows = []
    for rank, r in enumerate(run.leaderboard[:limit], 1):
        rows.append([str(rank), str(r.id), r.generation_label, r.strategy, kind_of(r),
                     _fmt(r.fitness), _fmt(select_fitness(r)),
                     _fmt(r.metrics.get("spearman", float("nan"))), r.thought[:140]])
    failures = ", ".join(f"{k}: {v}" for k, v in sorted(run.statuses.items()))
    return H.section(
        "Leaderboard", "Distinct valid programs by search fitness: seeds (human baselines "
        "and hint bodies, scored before the LLM was asked), novel candidates, and copies "
        "(a table that ranks like a seed's or an earlier candidate's). Outcomes of all "
        f"candidates: {failures}.",
        H.table(["#", "id", "gen", "strategy", "kind", "ρ iso", "ρ iso select", "ρ",
                 "thought"], rows, text_columns=(3, 4, 8)))


def _progress_section(run: RunView, save: "_Figures", gp: bool) -> str:
    """Fitness per generation (and, for an LLM run, the controller's probabilities)."""
    progress = [save("generations", figures.generations(run), "fitness per generation")]
    if not gp:
        progress.append(save("controller", figures.controller(run), "strategy probabilities"))
    return H.section(
        "Discovery, generation by generation",
        "Orange: best fitness so far and per generation on the search split; blue: the "
        "same candidates on the select split, which chooses the run's answer; bars: share of "
        "answers that ran and returned finite scores." + (
            " Candidates were written by genetic programming over the statistics an LLM "
            "sees (the symbolic baseline), not by an LLM." if gp else ""),
        *progress, grid=not gp)


def _best_section(run: RunView, discovered, humans: list, gp: bool) -> str:
    """The best novel proxy with its thought and code, or why there is none."""
    best = run.summary.best
    if best is not None:
        twin = next((h.name for h in humans if discovered is not None and np.array_equal(
            np.argsort(np.argsort(h.scores)), np.argsort(np.argsort(discovered.scores)))), None)
        note = (f" It ranks every benchmark configuration exactly as the human baseline "
                f"{twin} does: a rediscovery, not a new proxy." if twin else "")
        return H.section(
            f"The best novel proxy (candidate {best.id}, generation {best.generation}, "
            f"{best.strategy})", "It ranks unlike every seed (the human baselines and the "
            "hints' starting bodies) and every earlier candidate. " + (
                "Its GP expression, then the program rendered from it." if gp else
                "Its thought, as the LLM wrote it, then its code.") + note,
            H.quote(best.thought or "(no thought given)"), H.code_block(best.code or ""))
    else:
        copy = run.summary.best_copy
        said = (f" The best valid candidate, {copy.id} (ρ iso {_fmt(copy.fitness)}), is a "
                f"{kind_of(copy)}: a copy, not a discovery." if copy is not None else "")
        return H.section(
            "No novel proxy", "Every valid candidate ranks like a seed or an earlier "
            "candidate (Spearman ≥ 0.999 over all layer × bit cells), so this run "
            "discovered nothing." + said)


def _metadata(run: RunView, bench: BenchView) -> str:
    config, meta = run.meta["config"], run.meta
    started = meta.get("started")
    if config.get("search") == "gp":
        writer = [["search", "genetic programming (no LLM)"],
                  ["GP settings", ", ".join(f"{k[3:].replace('_', ' ')} {v}"
                                            for k, v in config.items() if k.startswith("gp_"))],
                  ["sandbox", meta.get("isolation", "not recorded (the run predates it)")],
                  ["sandbox time", f"{run.summary.eval_seconds:.0f} s"],
                  ["seed", str(config["seed"])]]
    else:
        writer = [["LLM", meta.get("llm", "?")],
                  ["sandbox", meta.get("isolation", "not recorded (the run predates it)")],
                  ["tokens (prompt / completion)", f"{run.summary.prompt_tokens:,} / "
                                                   f"{run.summary.completion_tokens:,}"],
                  ["LLM time / sandbox time", f"{run.summary.llm_seconds:.0f} s / "
                                              f"{run.summary.eval_seconds:.0f} s"],
                  ["seed / controller", f"{config['seed']} / {config['controller']}"],
                  ["temperature / max tokens",
                   f"{config['temperature']} / {config['max_tokens']}"]]
    rows = [*writer,
            ["wall time", f"{meta.get('wall_seconds', 0):.0f} s"],
            ["started", datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds")
             if started else "?"],
            ["generations / population / children", f"{len(run.generations)} / "
             f"{config['population']} / {config['children'] or config['population']}"],
            ["benchmark", f"{bench.path} ({bench.info['measured']} configurations, PTQ "
                          f"{bench.info['ptq']})"],
            ["versions", _versions()]]
    if len(meta.get("benches") or []) > 1:
        rows.insert(-1, ["benchmarks searched / fitness",
                         ", ".join(b["label"] for b in meta["benches"])
                         + f" / {meta.get('fitness_rule', 'mean')}"])
    return H.section("Run", "Everything needed to reproduce it (tapq discover --resume "
                     "continues it" + ("" if config.get("search") == "gp" else
                                       "; --replay re-runs it from its LLM cache") + ").",
                     H.table(["", ""], rows, text_columns=(0, 1)))


def _footer() -> str:
    return f"tapq · generated {datetime.datetime.now().isoformat(timespec='seconds')}"


def _bench_report(bench: BenchView, out: Path, device: DeviceLike = None) -> ReportResult:
    humans = baseline_views(bench, device)
    best = best_human_view(humans)
    humans = with_test_intervals(bench, humans, best.name if best else None)
    ranked = sorted(humans, key=lambda v: v.fitness.spearman_iso, reverse=True)
    save = _Figures(out.parent / f"{out.stem}_figures")
    info = bench.info
    cards = [H.Card(str(info["measured"]), "measured configurations"),
             H.Card(f"{100 * info['fp_accuracy']:.2f}%" if info["fp_accuracy"] is not None
                    else "-", "full-precision accuracy"),
             H.Card(info["target"], "target"),
             H.Card(_fmt(info["noise_ceiling"]), "noise ceiling ρ"),
             H.Card(_ceiling(info, bench.ceiling_iso), "proxy ceiling (iso, 95% CI)"),
             H.Card(_fmt(ranked[0].fitness.spearman_iso), f"best human: {ranked[0].name}",
                    "human")]
    sections = [
        H.section("How reliable is this ground truth?",
                  "Left: the same configurations measured with two calibration samples "
                  "on the same images (their ρ shares the evaluation noise, so it overstates "
                  "what a proxy can reach; the proxy ceiling above comes from independent "
                  "evaluation halves and seeds: tapq bench info). Right: accuracy drop with "
                  "one layer alone at each bit-width.",
                  save("noise", figures.noise(bench), "noise ceiling"),
                  save("layer_sensitivity", figures.layer_sensitivity(bench),
                       "per-layer sensitivity"), grid=True),
        H.section("The human baseline proxies",
                  "Iso-budget ρ on the search and test splits (test with its 95% interval); "
                  "the best two below.",
                  save("proxies", figures.baselines(humans, bench.ceiling_iso), "proxy fitness"),
                  save("score_vs_accuracy", figures.score_scatter(bench, ranked[:2]),
                       "score vs accuracy")),
        H.section("Accuracy against cost",
                  "Every sampled configuration; the black line is the best measured at each "
                  "cost (the oracle).",
                  save("pareto_size", figures.pareto(bench, [], "size_mb"), "accuracy vs size"),
                  save("pareto_bitops", figures.pareto(bench, [], "bitops"),
                       "accuracy vs BitOps"), grid=True),
        H.section("Benchmark", "Its settings.", H.table(
            ["", ""], [[k, str(v)] for k, v in info.items() if k != "layers"],
            text_columns=(0, 1)))]
    subtitle = f"{bench.path.resolve()} · {info['model']} on {info['data']}"
    _write(out, H.page("tapq benchmark report", subtitle, cards, sections, _footer()))
    return ReportResult(out, save.paths)
