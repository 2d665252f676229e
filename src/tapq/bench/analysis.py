"""What a benchmark holds and how far it can be trusted.

The **noise ceiling** is the Spearman correlation between two measurements of the same
configurations under different calibration samples: a proxy correlating above it would
be fitting noise. The **split-half reliability** correlates accuracy on the even and
the odd evaluation examples (Spearman-Brown corrected to the full split): how much the
finite evaluation set itself limits any correlation. Both share one noise source between
their two measurements; ``ceilings`` gives the proxy ceiling from independent halves,
from seeds and from both (tapq.bench.reliability), per band and pooled, with intervals.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from tapq.bench.ground_truth import SPLITS, TARGETS, bench_target, load_bench_data
from tapq.bench.reliability import SOURCES, Ceiling, bands_of, estimate_ceiling
from tapq.bench.store import BenchStore
from tapq.correlation import iso_budget_spearman


def _repeated(store: BenchStore) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The primary target (higher is better) of the repeated sampled configurations under
    both seeds, and their avg bits (empty when only one seed was measured, as imported)."""
    meta = store.meta()
    if len(meta["calib_seeds"]) < 2:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    first, second = meta["calib_seeds"][:2]
    target = bench_target(meta)
    a = {r.config_id: TARGETS[target] * getattr(r, target) for r in store.results(first)
         if getattr(r, target) is not None}
    b = {r.config_id: TARGETS[target] * getattr(r, target) for r in store.results(second)
         if getattr(r, target) is not None}
    avg = {c.id: c.avg_bits for c in store.configs("sample")}
    common = sorted(set(a) & set(b) & set(avg))
    return (np.array([a[i] for i in common]), np.array([b[i] for i in common]),
            np.array([avg[i] for i in common]))


def noise_ceiling(store: BenchStore) -> tuple[float, int]:
    """Spearman rho between the two calibration seeds' accuracies, and how many pairs."""
    a, b, _ = _repeated(store)
    if len(a) < 3:
        return float("nan"), len(a)
    return float(stats.spearmanr(a, b)[0]), len(a)


def noise_ceiling_iso(store: BenchStore) -> float:
    """The noise ceiling within average-bit bands: the ceiling for iso-budget fitness."""
    a, b, avg = _repeated(store)
    return iso_budget_spearman(-a, b, avg) if len(a) >= 3 else float("nan")


def split_half_reliability(store: BenchStore) -> float:
    """Spearman-Brown corrected Spearman rho between even- and odd-example accuracies."""
    seed = store.meta()["calib_seeds"][0]
    samples = {c.id for c in store.configs("sample")}
    rows = [r for r in store.results(seed) if r.config_id in samples
            and r.accuracy_even is not None]
    if len(rows) < 3:
        return float("nan")
    rho = stats.spearmanr([r.accuracy_even for r in rows], [r.accuracy_odd for r in rows])[0]
    return float(2 * rho / (1 + rho))


def benchmark_target(store: BenchStore) -> str:
    """The target the benchmark ranks configurations by (accuracy unless it declares one)."""
    return bench_target(store.meta())


def _full_values(store: BenchStore, target: str, seed: int) -> dict[int, float]:
    """Config id -> `target` on the whole evaluation split under calibration `seed`."""
    return {r.config_id: getattr(r, target) for r in store.results(seed)
            if getattr(r, target, None) is not None}


def _paired(store: BenchStore, source: str, target: str, ids: list[int]) -> tuple[list, list]:
    """The configurations (among `ids`) measured for `source`, and their measurements."""
    seeds = store.meta()["calib_seeds"][:2]
    if source != "halves" and len(seeds) < 2:  # one calibration seed (an imported benchmark)
        return [], []
    if source == "seeds":
        columns = [_full_values(store, target, s) for s in seeds]
    else:
        columns = []
        for seed in seeds[:1] if source == "halves" else seeds:
            half = store.halves(target, seed)
            columns += [{i: v[0] for i, v in half.items()}, {i: v[1] for i, v in half.items()}]
    common = [i for i in ids if all(i in c for c in columns)]
    return common, [[c[i] for i in common] for c in columns]


def ceilings(store: BenchStore, target: str | None = None, resamples: int = 2000
             ) -> dict[str, Ceiling | None]:
    """The proxy ceiling of each source (halves, seeds, independent) for `target`
    (default: the benchmark's), over its sampled configurations; None for a source the
    benchmark has no measurements for."""
    target = target or bench_target(store.meta())
    configs = store.configs("sample")
    if not configs:
        return dict.fromkeys(SOURCES)
    avg = np.array([c.avg_bits for c in configs])
    band, low = bands_of(avg)
    position = {c.id: k for k, c in enumerate(configs)}
    measured = set(_full_values(store, target, store.meta()["calib_seeds"][0]))
    weights = np.bincount(band[[position[i] for i in measured if i in position]],
                          minlength=band.max() + 1) if measured else np.zeros(0, int)
    result: dict[str, Ceiling | None] = {}
    for source in SOURCES:
        ids, columns = _paired(store, source, target, [c.id for c in configs])
        result[source] = estimate_ceiling(
            source, np.array(columns, dtype=float).reshape(len(columns), len(ids)),
            band[[position[i] for i in ids]], dict(enumerate(weights.tolist())), low,
            resamples=resamples) if ids else None
    return result


def ceiling_summary(store: BenchStore, resamples: int = 2000) -> dict:
    """``bench info``'s ceiling entries: the headline ceiling (independent if measured
    within bands, else halves, else seeds -- a source too sparse for a band of 8 yields
    to the next) and every source in full, for the benchmark's target."""
    target = bench_target(store.meta())
    found = ceilings(store, target, resamples)
    order = [found[s] for s in ("independent", "halves", "seeds") if found[s]]
    best = next((c for c in order if math.isfinite(c.ceiling)), order[0] if order else None)
    return {"ceiling": best.ceiling if best else None,
            "ceiling_ci": list(best.ceiling_ci) if best else None,
            "ceiling_source": best.source if best else None,
            "ceilings": {s: c.to_dict() if c else None for s, c in found.items()}}


def bench_info(store: BenchStore) -> dict:
    """Counts, accuracy range, reliability and split sizes of a benchmark."""
    meta = store.meta()
    data = load_bench_data(store)
    ceiling, pairs = noise_ceiling(store)
    configs = store.configs()
    layer_rows = [c for c in configs if c.kind == "layer"]
    measured = store.done()
    acc = data.accuracy[np.isfinite(data.accuracy)]
    return {
        "path": str(store.path),
        "model": meta["spec"]["model"], "data": meta["data"], "ptq": meta["spec"]["ptq"],
        "model_hash": meta["model_hash"], "bits": meta["spec"]["bits"],
        "a_bits": meta["spec"]["a_bits"], "layers": len(meta["layers"]),
        "fp_accuracy": meta["fp_accuracy"], "eval_size": meta["eval_size"],
        "configs": meta["sampled"], "measured": len(data.avg_bits),
        "target": data.target,
        **{split: int(data.in_split(split).sum()) for split in SPLITS},
        "layer_configs": len(layer_rows),
        "layer_measured": sum((c.id, meta["calib_seeds"][0]) in measured for c in layer_rows),
        "accuracy_min": float(acc.min()) if len(acc) else None,
        "accuracy_median": float(np.median(acc)) if len(acc) else None,
        "accuracy_max": float(acc.max()) if len(acc) else None,
        "avg_bits_min": float(data.avg_bits.min()) if len(data.avg_bits) else None,
        "avg_bits_max": float(data.avg_bits.max()) if len(data.avg_bits) else None,
        "noise_ceiling": ceiling, "noise_ceiling_iso": noise_ceiling_iso(store),
        "noise_pairs": pairs,
        "split_half_reliability": split_half_reliability(store),
        **ceiling_summary(store),
        "complete": "finished" in meta,
    }
