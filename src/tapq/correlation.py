"""Rank correlation within budget bands: the statistic both the ground truth's noise
ceiling and a proxy's fitness are made of.

It sits below the benchmark and the proxies so that both use the very same definition:
a ceiling computed one way and a fitness another would not bound each other.

- ``spearman``: Spearman's rho, 0 for a constant input (a constant says nothing about a
  ranking) or fewer than 3 values.
- ``iso_budget_spearman``: rho within bands of nearly equal average bits (width 0.5,
  i.e. +-0.25 bit, from the lowest average), weighted by band size; bands with fewer
  than ``MIN_BAND`` members are skipped. Comparing configurations of the same size is
  what allocation does, and "more bits is better" carries no information there.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["BAND_WIDTH", "MIN_BAND", "budget_bands", "iso_budget_spearman", "spearman"]

BAND_WIDTH = 0.5
MIN_BAND = 8  # fewer configurations than this say nothing reliable about a band


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho of `x` and `y`; 0 when either is constant or there are < 3 values."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0  # a constant says nothing about the ranking
    return float(stats.spearmanr(x, y)[0])


def budget_bands(avg_bits: np.ndarray, width: float = BAND_WIDTH) -> np.ndarray:
    """The band index of each configuration: bands `width` wide from the lowest average."""
    return np.floor((avg_bits - avg_bits.min()) / width).astype(int)


def iso_budget_spearman(scores: np.ndarray, accuracy: np.ndarray, avg_bits: np.ndarray,
                        width: float = BAND_WIDTH, min_count: int = MIN_BAND) -> float:
    """Spearman of -scores vs accuracy within average-bit bands, count-weighted mean
    (NaN when no band has `min_count` members)."""
    bands = budget_bands(avg_bits, width)
    total, weight = 0.0, 0
    for band in np.unique(bands):
        members = bands == band
        if members.sum() >= min_count:
            total += members.sum() * spearman(-scores[members], accuracy[members])
            weight += members.sum()
    return total / weight if weight else float("nan")
