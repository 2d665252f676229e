"""What a benchmark measured, as arrays: the targets a proxy is ranked against and the
three splits of its configurations.

**Targets.** Every measurement stores accuracy, KL divergence to the full-precision
outputs and top-1 agreement with the full-precision model (benchmarks built before
agreement existed lack it). A benchmark declares one of them its *primary target*
(``tapq bench build --target``); fitness ranks a proxy against it. ``BenchData.values``
is the target oriented so that higher is better (KL is negated), which is what a
proxy's -S(c) is correlated with.

**Splits.** ``search`` is what discovery's fitness reads, ``select`` what chooses a run's
final proxy, ``test`` what is reported and never read by discovery. Splits are assigned
when a benchmark is built (``assign_splits``: deterministic, and balanced within every
average-bit band, so each split's iso-budget figure covers the same bands). Benchmarks
built before the three splits had a ``val`` split (every 5th configuration) that the
search never read; it is read as alternately ``select`` and ``test`` within each band
(``legacy_splits``), so their search split -- and old runs' fitness -- is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tapq.bench.store import BenchStore
from tapq.correlation import MIN_BAND, budget_bands
from tapq.errors import TapqError

__all__ = ["BenchData", "SPLITS", "TARGETS", "assign_splits", "bench_target", "check_target",
           "legacy_splits", "load_bench_data", "set_splits_and_target"]

SPLITS = ("search", "select", "test")
# Target -> +1 when higher is better, -1 when lower is.
TARGETS = {"accuracy": 1.0, "agreement": 1.0, "kl": -1.0}
DEFAULT_SHARES = (0.40, 0.20, 0.40)  # 600 configurations over 13 bands: >= 8 select per band


def check_target(target: str) -> str:
    """`target` if it is a known target, else TapqError naming the choices."""
    if target not in TARGETS:
        raise TapqError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return target


def assign_splits(avg_bits: np.ndarray, shares: tuple[float, ...] = DEFAULT_SHARES
                  ) -> list[str]:
    """The split of each configuration: within every average-bit band, members in order
    go to whichever split is furthest below its share so far (deterministic, and every
    band is divided in the same proportions)."""
    share = np.asarray(shares, dtype=float) / sum(shares)
    result = [""] * len(avg_bits)
    bands = budget_bands(np.asarray(avg_bits, dtype=float)) if len(avg_bits) else []
    for band in np.unique(bands):
        counts = np.zeros(len(SPLITS))
        for i in np.flatnonzero(bands == band):
            k = int(np.argmax(share * (counts.sum() + 1) - counts))
            counts[k] += 1
            result[i] = SPLITS[k]
    return result


def legacy_splits(split: list[str], avg_bits: np.ndarray) -> list[str]:
    """A pre-three-split benchmark's splits: ``val`` alternates select / test within each
    band, ``search`` stays."""
    result = list(split)
    bands = budget_bands(np.asarray(avg_bits, dtype=float)) if len(avg_bits) else []
    for band in np.unique(bands):
        members = [i for i in np.flatnonzero(bands == band) if split[i] == "val"]
        for n, i in enumerate(members):
            result[i] = "select" if n % 2 == 0 else "test"
    return result


@dataclass(frozen=True)
class BenchData:
    """The measured sampled configurations of a benchmark, ready for fitness.

    Attributes:
        layers: layer names, the column order of ``bits``.
        bits: (N, layers) weight bits of each configuration.
        avg_bits: (N,) parameter-weighted average weight bits.
        split: (N,) ``search``, ``select`` or ``test``.
        targets: every stored target, raw (KL not negated), NaN where not measured.
        target: the one proxies are ranked against.
        bit_choices: the benchmark's candidate bit-widths.
    """

    layers: list[str]
    bits: np.ndarray
    avg_bits: np.ndarray
    split: np.ndarray
    targets: dict[str, np.ndarray]
    target: str
    bit_choices: list[int]

    @property
    def values(self) -> np.ndarray:
        """The target, oriented so that higher is better."""
        return TARGETS[self.target] * self.targets[self.target]

    @property
    def accuracy(self) -> np.ndarray:
        """Measured accuracy (NaN where an imported ground truth has none)."""
        return self.targets["accuracy"]

    def in_split(self, name: str) -> np.ndarray:
        """Boolean mask of the configurations in split `name`."""
        if name not in SPLITS:
            raise TapqError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return self.split == name

    def subset(self, mask: np.ndarray) -> BenchData:
        """The configurations where `mask` holds."""
        return replace(self, bits=self.bits[mask], avg_bits=self.avg_bits[mask],
                       split=self.split[mask],
                       targets={k: v[mask] for k, v in self.targets.items()})

    def without_test(self) -> BenchData:
        """What discovery may read: search and select, never test."""
        return self.subset(~self.in_split("test"))

    def with_target(self, target: str) -> BenchData:
        """The same configurations ranked against `target`; TapqError if it was not
        measured on every configuration."""
        check_target(target)
        values = self.targets[target]
        if len(values) and not np.isfinite(values).all():
            have = [t for t, v in self.targets.items() if np.isfinite(v).all()]
            why = (" (the benchmark predates agreement; rebuild it to have it)"
                   if target == "agreement" and np.isnan(values).all() else "")
            raise TapqError(f"this benchmark has no {target} for every configuration{why}; "
                            f"targets it has: {', '.join(have) or 'none'}")
        return replace(self, target=target)

    def iso_support(self, split: str = "search") -> int:
        """How many configurations of `split` lie in bands with at least MIN_BAND members
        (0: iso-budget rho is undefined on that split)."""
        avg = self.avg_bits[self.in_split(split)]
        if not len(avg):
            return 0
        counts = np.unique(budget_bands(avg), return_counts=True)[1]
        return int(sum(c for c in counts if c >= MIN_BAND))


def bench_target(meta: dict) -> str:
    """A benchmark's primary target (benchmarks from before targets rank accuracy)."""
    return meta["spec"].get("target", "accuracy")


def _value(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def load_bench_data(store: BenchStore, target: str | None = None) -> BenchData:
    """Measured sampled configurations (first calibration seed) of `store`, ranked against
    `target` (default: the benchmark's primary target)."""
    meta = store.meta()
    seed = meta["calib_seeds"][0]
    measured = {r.config_id: r for r in store.results(seed)}
    rows = [c for c in store.configs("sample") if c.id in measured]
    layers = meta["layers"]
    avg_bits = np.array([c.avg_bits for c in rows], dtype=float)
    split = [c.split for c in rows]
    if "val" in split:
        split = legacy_splits(split, avg_bits)
    targets = {name: np.array([_value(getattr(measured[c.id], name)) for c in rows], dtype=float)
               for name in TARGETS}
    data = BenchData(
        layers=layers,
        bits=np.array([[c.w_bits[n] for n in layers] for c in rows], dtype=int).reshape(-1, len(layers)),
        avg_bits=avg_bits, split=np.array(split, dtype=object).astype(str),
        targets=targets, target=bench_target(meta), bit_choices=list(meta["spec"]["bits"]))
    return data.with_target(target or data.target)


def set_splits_and_target(store: BenchStore, shares: tuple[float, ...] | None = None,
                          target: str | None = None) -> dict:
    """Re-assign the splits of `store`'s sampled configurations with `shares` (as a build
    does) and/or declare its primary `target`. Measurements are untouched: splits and the
    target are bookkeeping over them, so an older benchmark gets the three splits without
    re-measuring. Returns the new spec. TapqError if `target` was not measured on every
    configuration (the check reads before anything is written)."""
    meta = store.meta()
    spec = dict(meta["spec"])
    if target is not None:
        load_bench_data(store, target)
        spec["target"] = target
    if shares is not None:
        if len(shares) != 3 or min(shares) <= 0:
            raise TapqError("splits need three positive shares (search, select, test)")
        samples = store.configs("sample")
        split = assign_splits(np.array([c.avg_bits for c in samples]), tuple(shares))
        store.set_splits({c.id: s for c, s in zip(samples, split)})
        spec.pop("val_every", None)
        spec["splits"] = list(shares)
    store.set_meta({"spec": spec})
    return spec
