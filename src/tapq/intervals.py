"""95% intervals for the comparisons tapq prints: a proxy's iso-budget rho, the paired
difference between two proxies, and an accuracy measured on a finite evaluation set.

- ``iso_intervals``: a bootstrap over configurations, resampled *within* average-bit
  bands (each band is one sample to ``scipy.stats.bootstrap``, resampled independently:
  a stratified bootstrap, so every resample has the bands the estimate has), BCa. The
  same resampled configurations score every proxy, so the difference of two proxies is
  paired: what the two share (the configurations drawn) cancels, and the interval is that
  of the difference itself, much narrower than two separate intervals would suggest.
- ``binomial_interval``: Clopper-Pearson (``scipy.stats.binomtest``) for an accuracy.
- ``verdict``: "beats" only when the interval of a difference excludes 0.

Rank correlations are computed here in a vectorised form (ranks along the last axis,
Pearson of the ranks, 0 when either side is constant) equal to ``correlation.spearman``,
so the point estimate is exactly the fitness tapq reports.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tapq.correlation import BAND_WIDTH, MIN_BAND, budget_bands

__all__ = ["CONFIDENCE", "IsoIntervals", "binomial_interval", "iso_intervals", "verdict"]

CONFIDENCE = 0.95
N_RESAMPLES = 2000


def _rho(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho along the last axis (0 where either side is constant)."""
    rx = stats.rankdata(x, axis=-1)
    ry = stats.rankdata(y, axis=-1)
    rx -= rx.mean(-1, keepdims=True)
    ry -= ry.mean(-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(-1) / np.where(den > 0, den, 1), 0.0)


@dataclass(frozen=True)
class IsoIntervals:
    """Iso-budget rho of each proxy with its interval, and each proxy's paired
    difference to the reference (row ``reference``) with its interval."""

    rho: np.ndarray
    rho_ci: np.ndarray     # (proxies, 2)
    delta: np.ndarray
    delta_ci: np.ndarray   # (proxies, 2); (0, 0) for the reference itself
    reference: int


def iso_intervals(scores: np.ndarray, values: np.ndarray, avg_bits: np.ndarray,
                  reference: int = 0, n_resamples: int = N_RESAMPLES, seed: int = 0,
                  width: float = BAND_WIDTH, min_count: int = MIN_BAND) -> IsoIntervals:
    """Bootstrap intervals for the iso-budget rho of every row of `scores` (proxies x
    configurations) against `values` (higher is better), and for each row's difference
    to row `reference`. Bands as in ``correlation.iso_budget_spearman``; NaN throughout
    when no band has `min_count` members."""
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    k = len(scores)
    bands = budget_bands(avg_bits, width) if len(avg_bits) else np.zeros(0, int)
    groups = [np.flatnonzero(bands == b) for b in np.unique(bands)]
    groups = [g for g in groups if len(g) >= min_count]
    nan2 = np.full((k, 2), np.nan)
    if not groups:
        return IsoIntervals(np.full(k, np.nan), nan2, np.full(k, np.nan), nan2.copy(), reference)
    sizes = np.array([len(g) for g in groups], dtype=float)

    def statistic(*indices: np.ndarray, axis: int = -1) -> np.ndarray:
        # indices[b]: (..., n_b) resampled configuration ids of band b
        total = 0.0
        for idx, size in zip(indices, sizes):
            idx = np.asarray(idx, dtype=int)
            total = total + size * _rho(-scores[:, idx], values[idx][None])
        rho = total / sizes.sum()                      # (k, ...)
        return np.concatenate([rho, rho - rho[reference]])

    estimate = statistic(*groups)
    low, high = _bootstrap(statistic, groups, estimate, n_resamples, seed)
    ci = np.stack([low, high], -1)
    ci[k + reference] = 0.0  # the reference against itself
    return IsoIntervals(estimate[:k], ci[:k], estimate[k:], ci[k:], reference)


def _bootstrap(statistic, groups: list[np.ndarray], estimate: np.ndarray, n_resamples: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """BCa interval per statistic; where BCa is undefined (a degenerate bootstrap
    distribution, e.g. two proxies that rank alike) the percentile interval, and a point
    where every resample gives the same value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate distributions are handled below
        result = stats.bootstrap(tuple(groups), statistic, paired=False, vectorized=True,
                                 n_resamples=n_resamples, confidence_level=CONFIDENCE,
                                 method="BCa", random_state=np.random.default_rng(seed))
    low = np.array(result.confidence_interval.low, dtype=float)
    high = np.array(result.confidence_interval.high, dtype=float)
    dist = np.asarray(result.bootstrap_distribution, dtype=float)
    bad = ~(np.isfinite(low) & np.isfinite(high))
    if bad.any():
        tail = (1 - CONFIDENCE) / 2
        low[bad] = np.quantile(dist[bad], tail, axis=-1)
        high[bad] = np.quantile(dist[bad], 1 - tail, axis=-1)
    # BCa can place an interval that misses a degenerate estimate; keep it inside.
    return np.minimum(low, estimate), np.maximum(high, estimate)


def binomial_interval(accuracy: float, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95% interval of an accuracy measured on `n` examples."""
    if n <= 0 or not math.isfinite(accuracy):
        return float("nan"), float("nan")
    ci = stats.binomtest(int(round(accuracy * n)), n).proportion_ci(CONFIDENCE)
    return float(ci.low), float(ci.high)


def verdict(delta_ci: tuple[float, float]) -> str:
    """"beats" when the interval of (proxy - reference) lies above 0, "loses to" when it
    lies below, else "indistinguishable from"."""
    low, high = delta_ci
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undefined against"
    if low > 0:
        return "beats"
    if high < 0:
        return "loses to"
    return "indistinguishable from"
