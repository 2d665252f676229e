"""The report's figures, drawn with matplotlib (Agg, no display needed).

Each function returns a Figure; report/__init__.py saves it as PNG and embeds it.
One palette throughout: discovered proxies in orange, human ones in blue, uniform
precision in grey, the benchmark oracle in black.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tapq.report.data import BenchView, ProxyView, RunView  # noqa: E402
from tapq.report.sweep import SweepPoint  # noqa: E402

DISCOVERED, HUMAN, UNIFORM, ORACLE = "#e8710a", "#1a73e8", "#9aa0a6", "#202124"
plt.rcParams.update({"figure.dpi": 110, "axes.spines.top": False, "axes.spines.right": False,
                     "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})


def _finite(values) -> np.ndarray:
    return np.array([v if v is not None and math.isfinite(v) else np.nan for v in values])


def generations(run: RunView) -> Figure:
    """Best and median fitness per generation (search), best on select, valid share."""
    gens = run.summary.generations
    x = [g.generation for g in gens]
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    share = [g.valid / g.candidates if g.candidates else 0 for g in gens]
    twin = ax.twinx()
    twin.bar(x, share, color=UNIFORM, alpha=0.25, width=0.6, label="valid share")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("share of valid candidates")
    twin.grid(False)
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(x, _finite([g.population_best for g in gens]), "-o", color=DISCOVERED,
            label="best so far (search)")
    ax.plot(x, _finite([g.best for g in gens]), "--o", color=DISCOVERED, alpha=0.6,
            label="best of generation (search)")
    ax.plot(x, _finite([g.median for g in gens]), ":o", color=UNIFORM, label="median (search)")
    ax.plot(x, _finite([g.best_select for g in gens]), "-s", color=HUMAN, alpha=0.8,
            label="best of generation (select)")
    ceiling = run.meta.get("noise_ceiling_iso")
    if ceiling and math.isfinite(ceiling):
        ax.axhline(ceiling, color=ORACLE, lw=0.8, ls="--", label=f"noise ceiling {ceiling:.2f}")
    ax.set_xlabel("generation")
    ax.set_ylabel("iso-budget Spearman ρ")
    ax.set_xticks(x)
    ax.legend(loc="lower right", fontsize=7, framealpha=0.9)
    ax.set_title("Fitness per generation")
    fig.tight_layout()
    return fig


def controller(run: RunView) -> Figure:
    """The strategy controller's probabilities after each generation (a heatmap)."""
    gens = run.generations
    keys = list(gens[0].probabilities) if gens else []
    probs = np.array([[g.probabilities[k] for k in keys] for g in gens]).T
    fig, ax = plt.subplots(figsize=(6.4, max(2.5, 0.18 * len(keys) + 1)))
    image = ax.imshow(probs, aspect="auto", cmap="Oranges", vmin=0)
    ax.set_yticks(range(len(keys)), keys, fontsize=6.5)
    ax.set_xticks(range(len(gens)), [str(g.generation) for g in gens])
    ax.set_xlabel("after generation")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="probability", fraction=0.04)
    kind = run.meta.get("config", {}).get("controller", "dpo")
    ax.set_title(f"Strategy policy ({kind} controller): operator / hint")
    fig.tight_layout()
    return fig


SPLIT_MARKERS = {"search": ("o", 0.35), "select": ("s", 0.6), "test": ("^", 0.7)}


def score_scatter(bench: BenchView, proxies: list[ProxyView]) -> Figure:
    """Proxy score vs the measured target, per proxy, with rho and the proxy ceiling."""
    fig, axes = plt.subplots(1, len(proxies), figsize=(5.2 * len(proxies), 3.2), squeeze=False)
    data = bench.data
    target = data.targets[data.target] * (100 if data.target != "kl" else 1)
    label = {"accuracy": "measured accuracy (%)", "agreement": "agreement with FP (%)",
             "kl": "KL to FP (nats)"}[data.target]
    for ax, proxy in zip(axes[0], proxies):
        color = DISCOVERED if proxy.discovered else HUMAN
        # Ranks, not raw scores: proxies live on wildly different scales, and rank is
        # what the fitness (Spearman) measures.
        rank = np.argsort(np.argsort(-proxy.scores)) / max(1, len(proxy.scores) - 1)
        for split, (marker, alpha) in SPLIT_MARKERS.items():
            mask = data.in_split(split)
            ax.scatter(rank[mask], target[mask], s=7, marker=marker, color=color, alpha=alpha,
                       lw=0, label=split)
        f = proxy.fitness
        ax.set_title(f"{proxy.name}\nρ iso {f.spearman_iso:.3f} (select "
                     f"{f.spearman_iso_select:.3f}, test {f.spearman_iso_test:.3f})", fontsize=8)
        ax.set_xlabel("rank of − proxy score S(c)  (0 = most sensitive, 1 = least)")
        ax.legend(fontsize=6, loc="lower right")
    axes[0][0].set_ylabel(label)
    fig.suptitle(f"Score vs {data.target} (circles search, squares select, triangles test); "
                 f"proxy ceiling iso {bench.ceiling_iso:.3f}", fontsize=9)
    fig.tight_layout()
    return fig


def pareto(bench: BenchView, points: list[SweepPoint], x: str) -> Figure:
    """Accuracy vs size (x='size_mb') or BitOps (x='bitops') per proxy, with uniform
    precision and the benchmark's measured configurations and their upper envelope."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    cloud_x = bench.size_mb if x == "size_mb" else bench.bitops / 1e6
    ax.scatter(cloud_x, 100 * bench.data.accuracy, s=5, color=UNIFORM, alpha=0.3, lw=0,
               label="benchmark configurations")
    order = np.argsort(cloud_x)
    envelope = np.maximum.accumulate(100 * bench.data.accuracy[order])
    ax.step(cloud_x[order], envelope, where="post", color=ORACLE, lw=1, label="oracle (benchmark best)")
    scale = 1 if x == "size_mb" else 1e6
    proxies = sorted({p.label for p in points if p.source == "proxy"})
    for i, label in enumerate(proxies):
        mine = sorted((p for p in points if p.label == label), key=lambda p: getattr(p, x))
        color = DISCOVERED if label.startswith("discovered") else HUMAN
        ax.plot([getattr(p, x) / scale for p in mine], [100 * p.accuracy for p in mine],
                "-o", color=color, alpha=1 - 0.3 * (i % 2), label=label, ms=4)
    uniform = sorted((p for p in points if p.source == "uniform"), key=lambda p: getattr(p, x))
    ax.plot([getattr(p, x) / scale for p in uniform], [100 * p.accuracy for p in uniform], "D",
            color=UNIFORM, mec=ORACLE, ms=5, label="uniform precision")
    for p in uniform:
        ax.annotate(p.label.split()[-1], (getattr(p, x) / scale, 100 * p.accuracy), fontsize=7,
                    xytext=(3, -9), textcoords="offset points")
    low = min([100 * p.accuracy for p in points if p.source == "proxy"] + [90])
    ax.set_ylim(max(0, low - 3), 100 * bench.data.accuracy.max() + 1)
    ax.set_xlabel("model size (MB)" if x == "size_mb" else "BitOps (millions)")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Accuracy vs {'size' if x == 'size_mb' else 'BitOps'} (measured)")
    fig.tight_layout()
    return fig


def bits_per_layer(points: list[SweepPoint], layers: list[str], budget: float) -> Figure:
    """Bits chosen per layer at one budget, by proxy, as bars along the network's depth."""
    chosen = [p for p in points if p.source == "proxy" and p.budget == budget]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.8 / max(1, len(chosen))
    for i, p in enumerate(chosen):
        color = DISCOVERED if p.label.startswith("discovered") else HUMAN
        ax.bar(np.arange(len(layers)) + (i - (len(chosen) - 1) / 2) * width, p.bits, width,
               color=color, alpha=1 - 0.35 * (i % 2 if not p.label.startswith("discovered") else 0),
               label=f"{p.label} ({100 * p.accuracy:.2f}%)")
    ax.set_xticks(range(len(layers)), layers, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("weight bits")
    ax.set_title(f"Bits per layer at average ≤ {budget:g} bits (input → output)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def baselines(views: list[ProxyView], ceiling: float) -> Figure:
    """Iso-budget rho of every proxy on the search and test splits (test with its 95%
    interval where one was computed)."""
    views = sorted(views, key=lambda v: v.fitness.spearman_iso)
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(views) + 1.2))
    y = np.arange(len(views))
    colors = [DISCOVERED if v.discovered else HUMAN for v in views]
    ax.barh(y + 0.2, _finite([v.fitness.spearman_iso for v in views]), 0.4, color=colors,
            label="search")
    test = _finite([v.fitness.spearman_iso_test for v in views])
    ci = np.array([v.fitness.spearman_iso_ci for v in views], dtype=float).reshape(-1, 2)
    err = np.abs(np.stack([test - ci[:, 0], ci[:, 1] - test])) if len(views) else None
    ax.barh(y - 0.2, test, 0.4, color=colors, alpha=0.45, label="test (95% CI)",
            xerr=None if err is None or not np.isfinite(err).any() else np.nan_to_num(err),
            error_kw={"lw": 0.8})
    ax.set_yticks(y, [v.name for v in views])
    if math.isfinite(ceiling):
        ax.axvline(ceiling, color=ORACLE, ls="--", lw=0.8, label=f"proxy ceiling {ceiling:.2f}")
    ax.set_xlabel("iso-budget Spearman ρ")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Proxy fitness within equal-size bands")
    fig.tight_layout()
    return fig


def layer_sensitivity(bench: BenchView) -> Figure:
    """Accuracy drop with one layer alone at each bit-width (all others full precision)."""
    layers = bench.data.layers
    bits = sorted({b for _, b in bench.layer_drop})
    grid = np.array([[100 * bench.layer_drop.get((n, b), np.nan) for b in bits] for n in layers])
    fig, ax = plt.subplots(figsize=(6.4, 0.25 * len(layers) + 1.3))
    image = ax.imshow(grid, aspect="auto", cmap="Reds", vmin=0)
    ax.set_xticks(range(len(bits)), [str(b) for b in bits])
    ax.set_yticks(range(len(layers)), layers, fontsize=7)
    ax.set_xlabel("weight bits of that one layer")
    ax.grid(False)
    for (i, j), value in np.ndenumerate(grid):
        if math.isfinite(value):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=6.5,
                    color="white" if value > np.nanmax(grid) / 2 else "black")
    fig.colorbar(image, ax=ax, label="accuracy drop (points)", fraction=0.04)
    ax.set_title("Per-layer sensitivity measured by the benchmark")
    fig.tight_layout()
    return fig


def noise(bench: BenchView) -> Figure:
    """Accuracy of the repeated configurations under two calibration samples."""
    a, b = bench.repeated
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    ax.scatter(100 * a, 100 * b, s=8, color=HUMAN, alpha=0.6, lw=0)
    lo, hi = 100 * min(a.min(), b.min()), 100 * max(a.max(), b.max())
    ax.plot([lo, hi], [lo, hi], color=ORACLE, lw=0.8)
    ax.set_xlabel("accuracy, calibration sample 1 (%)")
    ax.set_ylabel("sample 2 (%)")
    ax.set_title(f"Noise ceiling: ρ {bench.info.get('noise_ceiling', float('nan')):.3f}",
                 fontsize=9)
    fig.tight_layout()
    return fig
