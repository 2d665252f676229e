"""Fitness: how well a proxy's scores rank a benchmark's target (accuracy, agreement with
the full-precision model, or KL to it; see tapq.bench.ground_truth).

A proxy's table T[layer, bit] scores a configuration c as S(c) = sum_l T[l, c_l] (a gather
and a sum, so a thousand configurations cost well under a millisecond). Fitness is the
rank correlation of -S with the target, computed
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

from tapq.bench import BenchData
from tapq.correlation import BAND_WIDTH, MIN_BAND, iso_budget_spearman, spearman


def config_scores(table: np.ndarray, bit_choices: list[int], bits: np.ndarray) -> np.ndarray:
    """S(c) for each row of `bits` (N, layers), from `table` (layers, len(bit_choices))."""
    column = {b: i for i, b in enumerate(bit_choices)}
    index = np.vectorize(column.__getitem__)(bits) if bits.size else bits
    return table[np.arange(table.shape[0])[None, :], index].sum(1)


def _top(scores: np.ndarray, values: np.ndarray, share: float) -> float:
    keep = values >= np.quantile(values, 1 - share)
    return spearman(-scores[keep], values[keep])


@dataclass(frozen=True)
class Fitness:
    """All fitness figures of one proxy on one benchmark (NaN where undefined).

    The unsuffixed figures are on the *search* split (discovery's fitness); ``_select``
    and ``_test`` are the same on the other splits (NaN where the split was not given,
    as in discovery, which never sees the test split). The interval fields are filled by
    ``proxies.evaluation.with_intervals`` on ``split``: the 95% bootstrap interval of
    the iso-budget rho there, and the paired difference to ``reference``.
    """

    proxy: str
    spearman: float
    kendall: float
    pearson: float
    spearman_top20: float
    spearman_top50: float
    spearman_iso: float
    spearman_select: float
    spearman_iso_select: float
    spearman_test: float
    spearman_iso_test: float
    ms: float
    error: str | None = None
    target: str = "accuracy"
    split: str | None = None
    spearman_iso_ci: tuple[float, float] = (float("nan"), float("nan"))
    reference: str | None = None
    delta_iso: float = float("nan")
    delta_iso_ci: tuple[float, float] = (float("nan"), float("nan"))
    verdict: str | None = None

    def iso_on(self, split: str) -> float:
        """The iso-budget rho on `split`."""
        return self.spearman_iso if split == "search" else getattr(self, f"spearman_iso_{split}")

    def to_json(self) -> dict:
        """The ``--json`` form."""
        return {**asdict(self), "spearman_iso_ci": list(self.spearman_iso_ci),
                "delta_iso_ci": list(self.delta_iso_ci)}


def split_metrics(scores: np.ndarray, values: np.ndarray, avg_bits: np.ndarray) -> dict:
    """Spearman, Kendall, Pearson, top-20%/50% and iso-budget rho of -scores against
    `values` (the target, higher is better) on one split."""
    if len(scores) < 3 or np.ptp(scores) == 0 or np.ptp(values) == 0:
        pearson = kendall = 0.0
    else:
        kendall = float(stats.kendalltau(-scores, values)[0])
        pearson = float(stats.pearsonr(-scores, values)[0])
    return {"spearman": spearman(-scores, values), "kendall": kendall, "pearson": pearson,
            "spearman_top20": _top(scores, values, 0.2) if len(values) else 0.0,
            "spearman_top50": _top(scores, values, 0.5) if len(values) else 0.0,
            "spearman_iso": iso_budget_spearman(scores, values, avg_bits)}


def _on(data: BenchData, scores: np.ndarray, split: str) -> dict:
    mask = data.in_split(split)
    if not mask.any():
        return {"spearman": float("nan"), "spearman_iso": float("nan")}
    return {"spearman": spearman(-scores[mask], data.values[mask]),
            "spearman_iso": iso_budget_spearman(scores[mask], data.values[mask],
                                                data.avg_bits[mask])}


def fitness(name: str, scores: np.ndarray, data: BenchData, ms: float) -> Fitness:
    """Fitness of proxy `name` whose configuration scores on `data` are `scores`."""
    search = data.in_split("search")
    figures = split_metrics(scores[search], data.values[search], data.avg_bits[search])
    select, test = _on(data, scores, "select"), _on(data, scores, "test")
    return Fitness(proxy=name, **figures, spearman_select=select["spearman"],
                   spearman_iso_select=select["spearman_iso"], spearman_test=test["spearman"],
                   spearman_iso_test=test["spearman_iso"], ms=ms, target=data.target)


def iso_undefined(data: BenchData, split: str = "search") -> str | None:
    """Why iso-budget fitness is undefined on `split` of `data`, or None if it is not."""
    if data.iso_support(split):
        return None
    return (f"iso-budget rho is undefined: no {BAND_WIDTH}-bit average-bit band of the "
            f"{split} split has the {MIN_BAND} configurations a within-band rank "
            f"correlation needs ({int(data.in_split(split).sum())} configurations in all)")


def failed(name: str, error: str, target: str = "accuracy") -> Fitness:
    """The fitness of a proxy that raised or returned non-finite values: -inf, error kept."""
    bad = float("-inf")
    return Fitness(name, bad, bad, bad, bad, bad, bad, bad, bad, bad, bad, float("nan"), error,
                   target=target)
