"""Where a proxy is wrong, in words the LLM can act on.

A prompt that shows only a parent's score tells the model *that* it is wrong, not
*where*. The benchmark knows more: fitting its measured accuracies (search split only)
with an additive model -- accuracy = a0 - sum over layers of cost[layer, bits], the
widest bit-width costing 0 -- gives the accuracy each layer x bit cell costs
(`implied_costs`; on the shipped mnist_cnn benchmark the fit explains R^2 ~ 0.93 of the
variance). A proxy's table should rank those cells alike. `diagnose` names the cells
it rates as more sensitive than the measurements do (over-rated) and less (under-rated),
with its iso-budget rho per band of average bits, and `render` says it in a few lines.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from tapq.bench import BenchData
from tapq.correlation import BAND_WIDTH, MIN_BAND, budget_bands, spearman
from tapq.proxies import config_scores

__all__ = ["Diagnosis", "ImpliedCosts", "diagnose", "implied_costs", "render"]

RIDGE = 1e-3  # relative ridge strength: keeps cells no sampled configuration uses at 0


@dataclass(frozen=True)
class ImpliedCosts:
    """Accuracy lost per layer x bit cell, as an additive model of the measurements.

    Attributes:
        layers, bit_choices: the rows and columns of `costs`.
        costs: (layers, bits) accuracy drop relative to the widest bit-width (0 there).
        r2: share of the accuracy variance the additive model explains on its rows.
    """

    layers: list[str]
    bit_choices: list[int]
    costs: np.ndarray
    r2: float


def implied_costs(data: BenchData, rows: np.ndarray, ridge: float = RIDGE) -> ImpliedCosts:
    """Fit accuracy = a0 - sum_l cost[l, bits_l] on the configurations `rows` (a mask)
    by ridge regression on one-hot cells, the widest bit-width as each layer's reference."""
    bits, accuracy = data.bits[rows], data.values[rows]
    choices = list(data.bit_choices)
    widest = max(choices)
    cells = [(l, b) for l in range(bits.shape[1]) for b in choices if b != widest]
    design = np.stack([(bits[:, l] == b).astype(float) for l, b in cells], axis=1)
    centred = design - design.mean(0)
    target = accuracy - accuracy.mean()
    gram = centred.T @ centred
    penalty = ridge * max(float(np.trace(gram)) / max(len(cells), 1), 1e-12)
    coef = np.linalg.solve(gram + penalty * np.eye(len(cells)), centred.T @ target)
    costs = np.zeros((bits.shape[1], len(choices)))
    for (l, b), c in zip(cells, coef):
        costs[l, choices.index(b)] = -c
    residual = target - centred @ coef
    total = float(target @ target)
    r2 = 1 - float(residual @ residual) / total if total > 0 else float("nan")
    return ImpliedCosts(list(data.layers), choices, costs, r2)


@dataclass(frozen=True)
class Cell:
    """One layer x bit cell as a proxy and the measurements rank it (1 = most sensitive)."""

    layer: str
    index: int
    bits: int
    proxy_rank: int
    measured_rank: int


@dataclass(frozen=True)
class Diagnosis:
    """A proxy against the measurements: rho per band and the cells it ranks worst."""

    bands: list[tuple[float, float, int, float]]  # (low, high, configurations, rho)
    over: list[Cell]
    under: list[Cell]
    cells: int
    r2: float


def _band_rhos(data: BenchData, rows: np.ndarray, table: np.ndarray
               ) -> list[tuple[float, float, int, float]]:
    scores = config_scores(table, data.bit_choices, data.bits[rows])
    accuracy, avg = data.values[rows], data.avg_bits[rows]
    bands = budget_bands(avg)
    out = []
    for band in np.unique(bands):
        members = bands == band
        if members.sum() >= MIN_BAND:
            low = float(avg.min()) + band * BAND_WIDTH
            out.append((low, low + BAND_WIDTH, int(members.sum()),
                        spearman(-scores[members], accuracy[members])))
    return out


def diagnose(table: np.ndarray, data: BenchData, rows: np.ndarray, costs: ImpliedCosts,
             count: int = 3) -> Diagnosis:
    """Compare `table` (layers x bits) with the implied costs on every cell but the
    widest bit-width (0 cost by construction): the `count` cells whose rank differs most
    in each direction."""
    table = np.asarray(table, dtype=float)
    keep = [j for j, b in enumerate(costs.bit_choices) if b != max(costs.bit_choices)]
    proxy = table[:, keep].ravel()
    measured = costs.costs[:, keep].ravel()
    # rank 1 = the most sensitive cell
    proxy_rank = rankdata(-proxy, method="min").astype(int)
    measured_rank = rankdata(-measured, method="min").astype(int)
    gap = proxy_rank - measured_rank  # negative: the proxy calls it more sensitive

    def cell(k: int) -> Cell:
        layer, column = divmod(k, len(keep))
        return Cell(costs.layers[layer], layer, costs.bit_choices[keep[column]],
                    int(proxy_rank[k]), int(measured_rank[k]))

    order = np.argsort(gap, kind="stable")
    over = [cell(k) for k in order[:count] if gap[k] < 0]
    under = [cell(k) for k in order[::-1][:count] if gap[k] > 0]
    return Diagnosis(_band_rhos(data, rows, table), over, under, len(proxy), costs.r2)


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as a few short lines for a prompt."""
    bands = ", ".join(f"{low:.1f}-{high:.1f}: {rho:.2f}"
                      for low, high, _, rho in diagnosis.bands) or "no band large enough"
    lines = [f"Its rank correlation within each band of average bits: {bands}.",
             (f"Measured cost of each layer at each bit-width (an additive fit of the "
              f"benchmark, R^2 {diagnosis.r2:.2f}) ranks the {diagnosis.cells} cells "
              "(rank 1 = most sensitive) differently from this proxy:")]

    def describe(c: Cell) -> str:
        return (f"layer {c.index} ({c.layer}) at {c.bits} bits: rank {c.proxy_rank} here, "
                f"{c.measured_rank} measured")

    if diagnosis.over:
        lines.append("- it over-rates " + "; ".join(map(describe, diagnosis.over)))
    if diagnosis.under:
        lines.append("- it under-rates " + "; ".join(map(describe, diagnosis.under)))
    return "\n".join(lines)
