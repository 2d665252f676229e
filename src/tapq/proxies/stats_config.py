"""How much statistics cost: images, probes, iterations, and which statistics at all.

The defaults depend on the model's size, because the cost of curvature grows with it
(every Hessian-vector product is a double backward pass over the whole batch): what a
digits net affords in seconds would take an ImageNet network hours on a CPU. Small
models (under `LARGE_MODEL` parameters) keep the settings every shipped benchmark was
scored with; larger ones get a smaller batch, fewer probes and no eigenvalue (one
backward per layer per power iteration, see tapq.proxies.hessian), which brings an
EfficientNet-Lite to a few minutes on 2 cores (BENCHMARKS.md). A statistic not
computed is NaN in every LayerStats (tensors filled with NaN, activations with no
rows), so a proxy that reads it fails loudly instead of ranking on zeros.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from tapq.errors import TapqError

__all__ = ["ALL_STATISTICS", "LARGE_MODEL", "StatsConfig", "canonical_stats",
           "parse_statistics", "parse_stats_option"]

ALL_STATISTICS = ("grad", "act", "hessian_trace", "hessian_eig", "fisher", "synflow",
                  "patches", "act_range", "ptq", "delta_loss")
# Left out of every default, asked for by name (`--stats ...,ptq,delta_loss` or `all`):
# each costs per (layer, bit-width) work -- one AdaRound optimisation, one quantized
# evaluation of the calibration batch per cell -- that would add minutes (AdaRound on the
# shipped benchmark: ~15 CPU-minutes) to the first run of every command that scores
# proxies, the README's demo included. Cached once computed.
_OPT_IN = ("ptq", "delta_loss")
# Also left out of a large model's default: one backward per layer per power iteration.
_COSTLY = ("hessian_eig", *_OPT_IN)
LARGE_MODEL = 1_000_000  # parameters
_SMALL = {"n": 128, "hutchinson_probes": 16, "power_iters": 20}
_LARGE = {"n": 32, "hutchinson_probes": 8, "power_iters": 0}


@dataclass(frozen=True)
class StatsConfig:
    """Settings of a statistics computation; None means "the default for the model's size".

    Attributes:
        n: calibration images the statistics are computed on.
        hutchinson_probes: Rademacher probes per Hessian trace (joint over layers).
        power_iters: power iterations per Hessian eigenvalue (at most; stops when stable).
        statistics: which statistics to compute (of ALL_STATISTICS); None: all the
            model's size affords (large models leave out ``hessian_eig``, ``ptq`` and
            ``delta_loss``, whose cost grows with layers x bit-widths).
        extra: statistics computed on top of `statistics` (``--stats +ptq,delta_loss``:
            the defaults plus the opt-in ones, without naming every default).
        seed: seed of the probes, the power-iteration starts and activation sampling.
    """

    n: int | None = None
    hutchinson_probes: int | None = None
    power_iters: int | None = None
    statistics: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()
    seed: int = 0

    def resolved(self, num_params: int) -> StatsConfig:
        """Every None replaced by the default for a model of `num_params` parameters."""
        defaults = _LARGE if num_params >= LARGE_MODEL else _SMALL
        values = {key: getattr(self, key) if getattr(self, key) is not None else value
                  for key, value in defaults.items()}
        statistics = self.statistics
        if statistics is None:
            large = num_params >= LARGE_MODEL
            statistics = tuple(s for s in ALL_STATISTICS
                               if not (s == "hessian_eig" and values["power_iters"] < 1)
                               and s not in _OPT_IN and not (large and s in _COSTLY))
        # One order (ALL_STATISTICS'), so the same set is the same cache key however named.
        chosen = set(statistics) | set(self.extra)
        statistics = tuple(s for s in ALL_STATISTICS if s in chosen)
        if "hessian_eig" in statistics and values["power_iters"] < 1:
            values["power_iters"] = _SMALL["power_iters"]  # asked for by name: compute it
        for key in ("n", "hutchinson_probes"):
            if values[key] < 1:
                raise TapqError(f"statistics setting {key}={values[key]} must be at least 1")
        return replace(self, statistics=statistics, extra=(), **values)

    def skipped(self) -> tuple[str, ...]:
        """Statistics of ALL_STATISTICS this (resolved) configuration leaves out."""
        return tuple(s for s in ALL_STATISTICS if s not in (self.statistics or ()))


def parse_statistics(text: str | None) -> tuple[str, ...] | None:
    """``--stats`` text: ``all``, or names separated by commas; None stays None."""
    if text is None:
        return None
    if text.strip() == "all":
        return ALL_STATISTICS
    if text.strip().startswith("+"):
        raise TapqError(f"--stats {text}: '+NAMES' (the defaults plus NAMES) is not "
                        "accepted here; name every statistic")
    return _names(text)


def parse_stats_option(text: str | None) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """``--stats`` text as (statistics, extra) for StatsConfig: ``all``, ``NAMES`` (only
    these), or ``+NAMES`` (the model's defaults plus these); None: the defaults."""
    if text is not None and text.strip().startswith("+"):
        return None, _names(text.strip()[1:])
    return parse_statistics(text), ()


def canonical_stats(text: str | None) -> str | None:
    """``--stats`` text in one spelling per meaning (names in ALL_STATISTICS' order, no
    spaces; None for the defaults), so a stored setting compares equal however typed."""
    statistics, extra = parse_stats_option(text)
    if statistics is None:
        return "+" + ",".join(s for s in ALL_STATISTICS if s in extra) if extra else None
    return ",".join(s for s in ALL_STATISTICS if s in statistics)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in ALL_STATISTICS]
    if unknown or not names:
        raise TapqError(f"--stats: unknown statistic {', '.join(unknown) or repr(text)}; "
                        f"choose from all, {', '.join(ALL_STATISTICS)}")
    return names
