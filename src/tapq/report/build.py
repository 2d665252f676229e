"""`write_report`: one HTML page (and its figures as PNG) for a discovery run or a benchmark.

For a run: fitness per generation, the strategy controller's trajectory, score-vs-accuracy
of the best discovered and best human proxy, measured Pareto curves, bits per layer at
the default budget, the leaderboard, the best proxy's thought and code, and metadata.
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
from tapq.discover import BEST_PROXY
from tapq.errors import TapqError
from tapq.outputs import atomic_path, write_text_atomic
from tapq.report import figures
from tapq.report import html as H
from tapq.report.data import (BenchView, RunView, baseline_views, best_human_view,
                              load_bench_view, load_run_view, proxy_view)
from tapq.report.sweep import DEFAULT_BUDGETS, pareto_points

REPORT = "report.html"
FIGURES = "report_figures"


@dataclass(frozen=True)
class ReportResult:
    """Where the report and its figures were written."""

    html: Path
    figures: list[Path]


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
    bench = load_bench_view(config["bench"])
    humans = baseline_views(bench, device)
    human = best_human_view(humans)
    best = run.summary.best
    save = _Figures(out.parent / FIGURES)
    sections, cards = [], []
    discovered = None
    if best is not None and best.table is not None:
        discovered = proxy_view("discovered (best)", np.array(best.table), bench, discovered=True)
    f_d = discovered.fitness if discovered else None
    cards += [H.Card(_fmt(f_d.spearman_iso) if f_d else "-", "best discovered ρ iso (search)",
                     "discovered"),
              H.Card(_fmt(f_d.spearman_iso_val) if f_d else "-", "… on validation", "discovered"),
              H.Card(_fmt(human.fitness.spearman_iso), f"best human: {human.name}", "human"),
              H.Card(_fmt(human.fitness.spearman_iso_val), "… on validation", "human"),
              H.Card(_fmt(bench.ceiling_iso), "noise ceiling (iso)"),
              H.Card(f"{run.summary.valid}/{run.summary.candidates}", "valid candidates"),
              H.Card(f"{run.summary.prompt_tokens + run.summary.completion_tokens:,}",
                     "LLM tokens"),
              H.Card(f"{run.meta.get('wall_seconds', 0) / 60:.1f} min", "wall time")]
    if run.meta.get("isolated") is False:  # said up front, not only in the metadata table
        cards.append(H.Card("NOT ISOLATED", "candidates ran without the sandbox's OS "
                            "boundary (--allow-unisolated)"))
    sections.append(H.section(
        "Discovery, generation by generation",
        "Orange: best fitness so far and per generation on the search split; blue: the "
        "same candidates on the validation split the search never sees; bars: share of "
        "answers that ran and returned finite scores.",
        save("generations", figures.generations(run), "fitness per generation"),
        save("controller", figures.controller(run), "strategy probabilities"), grid=True))
    pair = [v for v in (discovered, human) if v is not None]
    sections.append(H.section(
        "Does the score rank real accuracy?",
        "Each dot is a configuration of the benchmark, quantized and measured; a good proxy "
        "puts higher accuracy at higher −S. ρ iso compares configurations of equal size.",
        save("score_vs_accuracy", figures.score_scatter(bench, pair), "score vs accuracy")))
    proxies = {human.name: human.name}
    if best is not None and (run.path / BEST_PROXY).is_file():
        proxies = {"discovered (best)": str(run.path / BEST_PROXY), **proxies}
    budgets = tuple(sorted(set(budgets) | {budget}))
    points = pareto_points(config["bench"], proxies, budgets, cache=run.path / "report_sweep.json",
                           ptq=sweep_ptq, device=device)
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
        "of every proxy on the search split (dark) and validation split (light).",
        save("bits_per_layer", figures.bits_per_layer(points, bench.data.layers, budget),
             "bits per layer"),
        save("proxies", figures.baselines(everyone, bench.ceiling_iso), "proxy fitness"),
        grid=True))
    sections.append(_leaderboard(run))
    if best is not None:
        twin = next((h.name for h in humans if discovered is not None and np.array_equal(
            np.argsort(np.argsort(h.scores)), np.argsort(np.argsort(discovered.scores)))), None)
        note = (f" It ranks every benchmark configuration exactly as the human baseline "
                f"{twin} does: a rediscovery, not a new proxy." if twin else "")
        sections.append(H.section(
            f"The best discovered proxy (candidate {best.id}, generation {best.generation}, "
            f"{best.strategy})", "Its thought, as the LLM wrote it, then its code." + note,
            H.quote(best.thought or "(no thought given)"), H.code_block(best.code or "")))
    sections.append(_metadata(run, bench))
    title = "tapq discovery report"
    subtitle = (f"{run.path.resolve()} · benchmark {bench.info['model']} on "
                f"{bench.info['data']} · LLM {run.meta.get('llm', '?')}")
    _write(out, H.page(title, subtitle, cards, sections, _footer()))
    return ReportResult(out, save.paths)


def _leaderboard(run: RunView, limit: int = 15) -> str:
    rows = []
    for rank, r in enumerate(run.leaderboard[:limit], 1):
        rows.append([str(rank), str(r.id), str(r.generation), r.strategy, _fmt(r.fitness),
                     _fmt(r.metrics.get("spearman_iso_val", float("nan"))),
                     _fmt(r.metrics.get("spearman", float("nan"))), r.thought[:140]])
    failures = ", ".join(f"{k}: {v}" for k, v in sorted(run.statuses.items()))
    return H.section(
        "Leaderboard", f"Distinct valid candidates by search fitness. Outcomes of all "
        f"candidates: {failures}.",
        H.table(["#", "id", "gen", "strategy", "ρ iso", "ρ iso val", "ρ", "thought"], rows,
                text_columns=(3, 7)))


def _metadata(run: RunView, bench: BenchView) -> str:
    config, meta = run.meta["config"], run.meta
    started = meta.get("started")
    rows = [["LLM", meta.get("llm", "?")],
            ["sandbox", meta.get("isolation", "not recorded (the run predates it)")],
            ["tokens (prompt / completion)", f"{run.summary.prompt_tokens:,} / "
                                             f"{run.summary.completion_tokens:,}"],
            ["LLM time / sandbox time", f"{run.summary.llm_seconds:.0f} s / "
                                        f"{run.summary.eval_seconds:.0f} s"],
            ["wall time", f"{meta.get('wall_seconds', 0):.0f} s"],
            ["started", datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds")
             if started else "?"],
            ["seed / controller", f"{config['seed']} / {config['controller']}"],
            ["generations / population / children", f"{len(run.generations)} / "
             f"{config['population']} / {config['children'] or config['population']}"],
            ["temperature / max tokens", f"{config['temperature']} / {config['max_tokens']}"],
            ["benchmark", f"{bench.path} ({bench.info['measured']} configurations, PTQ "
                          f"{bench.info['ptq']})"],
            ["versions", _versions()]]
    return H.section("Run", "Everything needed to reproduce it (tapq discover --resume "
                     "continues it; --replay re-runs it from its LLM cache).",
                     H.table(["", ""], rows, text_columns=(0, 1)))


def _footer() -> str:
    return f"tapq · generated {datetime.datetime.now().isoformat(timespec='seconds')}"


def _bench_report(bench: BenchView, out: Path, device: DeviceLike = None) -> ReportResult:
    humans = baseline_views(bench, device)
    ranked = sorted(humans, key=lambda v: v.fitness.spearman_iso, reverse=True)
    save = _Figures(out.parent / f"{out.stem}_figures")
    info = bench.info
    cards = [H.Card(str(info["measured"]), "measured configurations"),
             H.Card(f"{100 * info['fp_accuracy']:.2f}%", "full-precision accuracy"),
             H.Card(_fmt(info["noise_ceiling"]), "noise ceiling ρ"),
             H.Card(_fmt(bench.ceiling_iso), "noise ceiling (iso)"),
             H.Card(_fmt(ranked[0].fitness.spearman_iso), f"best human: {ranked[0].name}",
                    "human")]
    sections = [
        H.section("How reliable is this ground truth?",
                  "Left: the same configurations measured with two calibration samples "
                  "(their ρ is the ceiling for any proxy). Right: accuracy drop with one "
                  "layer alone at each bit-width.",
                  save("noise", figures.noise(bench), "noise ceiling"),
                  save("layer_sensitivity", figures.layer_sensitivity(bench),
                       "per-layer sensitivity"), grid=True),
        H.section("The human baseline proxies",
                  "Iso-budget ρ on the search and validation splits; the best two below.",
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
