"""Sampling bit configurations spread evenly over the whole range of average bits.

Uniform random bits per layer would pile configurations up near the mean bit-width (the
average of many layers concentrates), leaving the low- and high-bit ends -- where
allocation happens -- unmeasured, and leaving iso-budget bands empty. Instead the range
of parameter-weighted average bits is cut into strata of equal width and each stratum
gets the same number of configurations: for each, a target average is drawn inside the
stratum, per-layer bits are drawn around it with a random spread, and the draw is kept
only if its average lands in the stratum.
"""
from __future__ import annotations

import numpy as np


def average_bits(bits: np.ndarray, num_params: np.ndarray) -> np.ndarray:
    """Parameter-weighted average bit-width of each row of `bits` (N, layers)."""
    return bits @ num_params / num_params.sum()


def sample_configs(num_params: list[int], bit_choices: list[int], n: int, seed: int,
                   strata: int = 12) -> np.ndarray:
    """`n` distinct configurations (rows of per-layer weight bits), stratified by average bits.

    Returns an int array (n, layers) -- fewer rows only if fewer than n distinct
    configurations exist; row order interleaves the strata, so any prefix is itself spread
    over the range.
    """
    rng = np.random.default_rng(seed)
    choices = np.array(sorted(bit_choices), dtype=float)
    params = np.asarray(num_params, dtype=float)
    edges = np.linspace(choices[0], choices[-1], strata + 1)
    quota = [n // strata + (k < n % strata) for k in range(strata)]
    found: list[list[tuple[int, ...]]] = [[] for _ in range(strata)]
    seen: set[tuple[int, ...]] = set()
    for attempt in range(400 * n + 2000):
        if len(seen) >= n:
            break
        # Strata that one dominant layer makes hard to reach may stay short; after half
        # the attempts, any new configuration fills the remaining count.
        relaxed = attempt >= 200 * n + 1000
        open_strata = [k for k in range(strata) if relaxed or len(found[k]) < quota[k]]
        k = open_strata[rng.integers(len(open_strata))]
        target = rng.uniform(edges[k], edges[k + 1])
        spread = rng.uniform(0.3, 3.0)
        probs = np.exp(-((choices - target) ** 2) / (2 * spread ** 2))
        row = tuple(int(b) for b in rng.choice(choices, size=len(params), p=probs / probs.sum()))
        avg = float(np.dot(row, params) / params.sum())
        landed = min(int(np.searchsorted(edges, avg, side="right")) - 1, strata - 1)
        if row not in seen and (relaxed or landed == k):
            seen.add(row)
            found[landed].append(row)
    depth = max(map(len, found))
    rows = [found[k][i] for i in range(depth) for k in range(strata) if i < len(found[k])]
    return np.array(rows, dtype=int).reshape(-1, len(params))
