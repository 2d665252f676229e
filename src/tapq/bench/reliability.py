"""How far a benchmark's target can be trusted: reliability and the proxy ceiling.

A stored measurement y of a configuration is its true value t (what a proxy could know)
plus calibration noise (which images PTQ calibrated on) plus evaluation noise (which
images scored it). The *reliability* of y is the share of its variance that is t's; a
proxy that knew t exactly would correlate with y at √reliability -- the **proxy
ceiling** (classical test theory; with rank correlations, approximately). Three
estimates, each a Spearman ρ within the average-bit bands iso-budget fitness uses:

- ``halves``: the target on the two halves of the evaluation examples (even and odd
  positions, or alternate sources where several examples come from one, such as the
  crops of one photo: ``Split.halves``), same calibration seed, so the evaluation noise
  of the two is independent (disjoint images, and disjoint photos),
  **Spearman-Brown corrected** to the full evaluation set: 2ρ/(1+ρ), ρ clipped at 0.
  Calibration noise is shared and counts as signal.
- ``seeds``: the target under calibration seeds s and s+1 on the *same* images:
  calibration noise independent, evaluation noise shared and counted as signal -- the
  old "noise ceiling", which overstates what a proxy can reach when the evaluation set
  is small.
- ``independent``: both noises independent: seed s's even half against seed s+1's odd
  half and the other way round (ρx), stepped up to the full evaluation set by the factor
  2/(1+ρh) that Spearman-Brown applies to halves (ρh: the same-seed halves ρ, clipped at
  0). With variances t, c (calibration) and 2e (evaluation noise of a half): ρx =
  t/(t+c+2e), ρh = (t+c)/(t+c+2e), so ρx·2/(1+ρh) = t/(t+c+e), the reliability of one
  stored measurement. This is the ceiling to quote.

Per band the ceiling is √reliability (clipped to [0, 1]); pooled, the mean of the band
ceilings weighted by how many sampled configurations each band holds -- as iso fitness
weights its per-band ρ -- so it bounds a proxy's iso-ρ. "Plain" is the same over the whole
range without bands. Intervals: 95% percentile bootstrap over configurations, resampled
within each band (stratified, so band weights stay fixed), with a fixed seed so that
``bench info`` prints the same numbers every time.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from tapq.correlation import BAND_WIDTH, MIN_BAND, budget_bands

__all__ = ["SOURCES", "BandCeiling", "Ceiling", "bands_of", "estimate_ceiling", "spearman_brown"]

RESAMPLES = 2000


def spearman_brown(rho: np.ndarray | float) -> np.ndarray:
    """Reliability of a measurement twice as long as two halves correlating at `rho`
    (negative ρ, meaning no shared signal, counts as 0)."""
    rho = np.clip(rho, 0.0, None)
    return 2 * rho / (1 + rho)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman ρ along the last axis (ties averaged); 0 where either side is constant,
    as fitness counts a constant (tapq.correlation.spearman)."""
    rx = stats.rankdata(x, axis=-1)
    ry = stats.rankdata(y, axis=-1)
    rx -= rx.mean(-1, keepdims=True)
    ry -= ry.mean(-1, keepdims=True)
    scale = np.sqrt((rx ** 2).sum(-1) * (ry ** 2).sum(-1))
    return np.where(scale > 0, (rx * ry).sum(-1) / np.where(scale > 0, scale, 1.0), 0.0)


def _halves(m: np.ndarray) -> np.ndarray:
    even, odd = m
    return spearman_brown(_spearman_rows(even, odd))


def _seeds(m: np.ndarray) -> np.ndarray:
    first, second = m
    return _spearman_rows(first, second)


def _independent(m: np.ndarray) -> np.ndarray:
    even0, odd0, even1, odd1 = m
    cross = (_spearman_rows(even0, odd1) + _spearman_rows(odd0, even1)) / 2
    same = np.clip((_spearman_rows(even0, odd0) + _spearman_rows(even1, odd1)) / 2, 0, None)
    return cross * 2 / (1 + same)


# source -> (estimator over a (k, ..., n) stack of its k measurements, the method in words)
SOURCES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "halves": (_halves, ("two disjoint evaluation halves (alternate examples, or alternate "
                         "source images where crops share one), one calibration seed; "
                         "Spearman-Brown corrected")),
    "seeds": (_seeds, "two calibration seeds on the same evaluation images"),
    "independent": (_independent, ("seed s on one half vs seed s+1 on the other; "
                                   "Spearman-Brown step-up")),
}


def _ceiling(reliability: np.ndarray | float) -> np.ndarray:
    return np.sqrt(np.clip(reliability, 0.0, 1.0))


def _interval(samples: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class BandCeiling:
    """Reliability and proxy ceiling within one average-bit band.

    Attributes:
        avg_bits: the band's [low, high) average weight bits.
        configs: configurations the estimate rests on.
        reliability: estimated reliability of one stored measurement.
        ceiling: √reliability, the most a proxy's within-band ρ can be.
        ceiling_ci: its 95% bootstrap interval.
    """

    avg_bits: tuple[float, float]
    configs: int
    reliability: float
    ceiling: float
    ceiling_ci: tuple[float, float]


@dataclass(frozen=True)
class Ceiling:
    """One source's reliability and proxy ceiling: pooled over bands, plain, per band.

    Attributes:
        source: ``halves``, ``seeds`` or ``independent`` (see the module docstring).
        method: how it is measured, in words.
        configs: configurations the estimate rests on.
        reliability: band reliabilities' weighted mean (weights: sampled configurations
            per band, as iso fitness weights its bands).
        ceiling: the weighted mean of the band ceilings: the most a proxy's iso-ρ can be.
        ceiling_ci: its 95% bootstrap interval.
        reliability_plain / ceiling_plain / ceiling_plain_ci: over the whole range.
        bands: per band (bands with fewer than MIN_BAND measured configurations left out).
    """

    source: str
    method: str
    configs: int
    reliability: float
    ceiling: float
    ceiling_ci: tuple[float, float]
    reliability_plain: float
    ceiling_plain: float
    ceiling_plain_ci: tuple[float, float]
    bands: list[BandCeiling]

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return asdict(self)


def estimate_ceiling(source: str, measurements: np.ndarray, band: np.ndarray,
                     weights: dict[int, int], band_low: float, *, width: float = BAND_WIDTH,
                     resamples: int = RESAMPLES, seed: int = 0) -> Ceiling | None:
    """Reliability and proxy ceiling of `source` from paired measurements.

    Args:
        source: a key of SOURCES.
        measurements: (k, n) the k measurements the source correlates, of n configurations.
        band: (n,) each configuration's band index (tapq.correlation.budget_bands over all
            sampled configurations).
        weights: band index -> sampled configurations in it (the pooled weights).
        band_low: the lowest average bits, where band 0 starts.
        width: band width in average bits.
        resamples: bootstrap resamples.
        seed: bootstrap seed.
    Returns None when fewer than 3 configurations are measured.
    """
    estimator, method = SOURCES[source]
    measurements = np.asarray(measurements, dtype=float)
    n = measurements.shape[1]
    if n < 3:
        return None
    rng = np.random.default_rng(seed)
    bands, draws, weight = [], [], []
    for b in np.unique(band):
        members = np.flatnonzero(band == b)
        if len(members) < MIN_BAND:
            continue
        reliability = float(estimator(measurements[:, members]))
        boot = estimator(measurements[:, members[rng.integers(0, len(members),
                                                              (resamples, len(members)))]])
        low = band_low + b * width
        bands.append(BandCeiling((float(low), float(low + width)), len(members), reliability,
                                 float(_ceiling(reliability)), _interval(_ceiling(boot))))
        draws.append(boot)
        weight.append(weights.get(int(b), len(members)))
    plain = float(estimator(measurements))
    plain_boot = estimator(measurements[:, rng.integers(0, n, (resamples, n))])
    if bands:
        w = np.array(weight, dtype=float) / sum(weight)
        pooled = float(w @ [b.reliability for b in bands])
        ceiling = float(w @ [b.ceiling for b in bands])
        ceiling_ci = _interval(w @ _ceiling(np.array(draws)))
    else:
        pooled = ceiling = float("nan")
        ceiling_ci = (float("nan"), float("nan"))
    return Ceiling(source, method, n, pooled, ceiling, ceiling_ci, plain,
                   float(_ceiling(plain)), _interval(_ceiling(plain_boot)), bands)


def bands_of(avg_bits: np.ndarray, width: float = BAND_WIDTH) -> tuple[np.ndarray, float]:
    """Band index of each configuration and where band 0 starts (as fitness bands them)."""
    return budget_bands(avg_bits, width), float(avg_bits.min())
