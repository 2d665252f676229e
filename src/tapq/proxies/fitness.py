"""Fitness: how well a proxy's scores rank measured accuracy.

A proxy's table T[layer, bit] scores a configuration c as S(c) = sum_l T[l, c_l] (a gather
and a sum, so a thousand configurations cost well under a millisecond). Fitness is the
rank correlation of -S with accuracy, computed
- over all configurations (inflated by "more bits is better": a proxy that only knows
  size already scores high), and
- **iso-budget**: within bands of nearly equal average bits (width 0.5, i.e. +-0.25 bit),
  averaged over bands weighted by their counts (tapq.correlation, shared with the noise
  ceiling). This is what allocation needs -- it compares configurations of the same
  size -- and the default fitness for discovery.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from tapq.correlation import iso_budget_spearman, spearman


def config_scores(table: np.ndarray, bit_choices: list[int], bits: np.ndarray) -> np.ndarray:
    """S(c) for each row of `bits` (N, layers), from `table` (layers, len(bit_choices))."""
    column = {b: i for i, b in enumerate(bit_choices)}
    index = np.vectorize(column.__getitem__)(bits) if bits.size else bits
    return table[np.arange(table.shape[0])[None, :], index].sum(1)


def _top(scores: np.ndarray, accuracy: np.ndarray, share: float) -> float:
    keep = accuracy >= np.quantile(accuracy, 1 - share)
    return spearman(-scores[keep], accuracy[keep])


@dataclass(frozen=True)
class Fitness:
    """All fitness figures of one proxy on one benchmark (NaN where undefined)."""

    proxy: str
    spearman: float
    kendall: float
    pearson: float
    spearman_top20: float
    spearman_top50: float
    spearman_iso: float
    spearman_val: float
    spearman_iso_val: float
    ms: float
    error: str | None = None

    def to_json(self) -> dict:
        """The ``--json`` form."""
        return asdict(self)


def split_metrics(scores: np.ndarray, accuracy: np.ndarray, avg_bits: np.ndarray) -> dict:
    """Spearman, Kendall, Pearson, top-20%/50% and iso-budget rho on one split."""
    if np.ptp(scores) == 0 or len(scores) < 3:
        pearson = kendall = 0.0
    else:
        kendall = float(stats.kendalltau(-scores, accuracy)[0])
        pearson = float(stats.pearsonr(-scores, accuracy)[0])
    return {"spearman": spearman(-scores, accuracy), "kendall": kendall, "pearson": pearson,
            "spearman_top20": _top(scores, accuracy, 0.2),
            "spearman_top50": _top(scores, accuracy, 0.5),
            "spearman_iso": iso_budget_spearman(scores, accuracy, avg_bits)}


def fitness(name: str, scores: np.ndarray, accuracy: np.ndarray, avg_bits: np.ndarray,
            is_val: np.ndarray, ms: float) -> Fitness:
    """Fitness of proxy `name` whose configuration scores are `scores`."""
    search = split_metrics(scores[~is_val], accuracy[~is_val], avg_bits[~is_val])
    val = split_metrics(scores[is_val], accuracy[is_val], avg_bits[is_val])
    return Fitness(proxy=name, **search, spearman_val=val["spearman"],
                   spearman_iso_val=val["spearman_iso"], ms=ms)


def failed(name: str, error: str) -> Fitness:
    """The fitness of a proxy that raised or returned non-finite values: -inf, error kept."""
    bad = float("-inf")
    return Fitness(name, bad, bad, bad, bad, bad, bad, bad, bad, float("nan"), error)
