"""Proxy ceilings on synthetic benchmarks whose noise is planted, so the truth is known."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tapq.bench import BenchStore, ceilings
from tapq.bench.reliability import estimate_ceiling, spearman_brown
from tapq.bench.store import ConfigRow, ResultRow
from tapq.correlation import budget_bands, iso_budget_spearman

CALIB, EVAL_HALF = 0.3, 0.8  # variances: true signal 1, calibration noise, one half's eval noise


def _plant(n: int = 1200, seed: int = 0, eval_half=EVAL_HALF, calib=CALIB):
    """A benchmark's worth of measurements: true values t, two calibration seeds, each
    scored on the same two disjoint halves. `eval_half` may vary per configuration."""
    rng = np.random.default_rng(seed)
    avg = rng.uniform(2, 8, n)
    t = rng.normal(size=n)
    # Evaluation noise belongs to (configuration, images): both seeds score the same images.
    scale = np.sqrt(np.broadcast_to(eval_half, (n,)))
    even, odd = scale * rng.normal(size=n), scale * rng.normal(size=n)
    halves = {}
    for s in (0, 1):
        c = rng.normal(scale=np.sqrt(calib), size=n)
        halves[s] = (t + c + even, t + c + odd)
    return avg, t, halves


def _oracle_iso(avg, t, halves):
    """What the ceiling claims to bound: the iso-ρ of a proxy that knows t exactly,
    against one stored (full evaluation set, first seed) measurement."""
    stored = (halves[0][0] + halves[0][1]) / 2
    return iso_budget_spearman(-t, stored, avg)


def test_independent_ceiling_matches_the_planted_noise_and_what_an_oracle_scores():
    avg, t, halves = _plant()
    band = budget_bands(avg)
    args = (band, dict(enumerate(np.bincount(band).tolist())), float(avg.min()))
    measured = np.array([*halves[0], *halves[1]])
    independent = estimate_ceiling("independent", measured, *args)
    halves_only = estimate_ceiling("halves", measured[:2], *args)
    stored = measured[:2].mean(0), measured[2:].mean(0)
    seeds = estimate_ceiling("seeds", np.array(stored), *args)
    full_eval = EVAL_HALF / 2  # the stored value averages the two halves
    truth = np.sqrt(1 / (1 + CALIB + full_eval))  # ~0.79 (Pearson scale)
    oracle = _oracle_iso(avg, t, halves)
    assert abs(oracle - truth) < 0.03  # the planted model is what we think it is
    assert independent.ceiling == pytest.approx(oracle, abs=0.04)
    low, high = independent.ceiling_ci
    assert low < oracle < high and high - low < 0.15
    # each one-noise estimate counts the other noise as signal, so it overstates
    assert halves_only.ceiling == pytest.approx(np.sqrt((1 + CALIB) / (1 + CALIB + full_eval)),
                                                abs=0.04)
    assert seeds.ceiling == pytest.approx(np.sqrt((1 + full_eval) / (1 + CALIB + full_eval)),
                                          abs=0.04)
    assert independent.ceiling < halves_only.ceiling - 0.05
    assert independent.ceiling < seeds.ceiling - 0.05
    assert len(independent.bands) == 12 and all(b.configs >= 80 for b in independent.bands)


def test_per_band_ceilings_follow_noise_that_grows_with_bits():
    """Evaluation noise rising with average bits (as on the digits benchmark, where
    high-bit configurations differ by a handful of images): band ceilings fall with it."""
    avg = np.random.default_rng(1).uniform(2, 8, 2400)  # what _plant draws first
    band = budget_bands(avg)
    mid = avg.min() + 0.5 * band + 0.25
    eval_half = 0.05 * np.exp(0.8 * (mid - 2))  # 0.06 at 2 bits .. ~5 at 8 bits
    drawn, _, halves = _plant(n=2400, eval_half=eval_half, seed=1)
    assert np.array_equal(drawn, avg)
    result = estimate_ceiling("halves", np.array(halves[0]), band,
                              dict(enumerate(np.bincount(band).tolist())), float(avg.min()))
    for b, v in zip(result.bands, np.unique(eval_half)):
        planted = np.sqrt((1 + CALIB) / (1 + CALIB + v / 2))
        assert b.ceiling == pytest.approx(planted, abs=0.08), b
        assert b.ceiling_ci[0] <= planted <= b.ceiling_ci[1]
    assert result.bands[0].ceiling > 0.95 and result.bands[-1].ceiling < 0.8


def test_spearman_brown_steps_a_half_up_to_the_whole_and_ignores_negative_rho():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(1.0) == 1.0 and spearman_brown(-0.3) == 0.0


def _store(path, avg, halves, target_in_halves_table: bool):
    """Write planted measurements as a benchmark file (accuracy columns, or KL halves)."""
    store = BenchStore(path, create=True)
    store.set_meta({"spec": {"model": "synthetic", "ptq": "rtn", "bits": [4], "a_bits": 8},
                    "data": "synthetic", "layers": ["a"], "model_hash": "0", "eval_size": 2,
                    "calib_seeds": [0, 1], "fp_accuracy": 1.0, "sampled": len(avg)})
    store.add_configs([ConfigRow(i, "sample", "search", {"a": 4}, {"a": 8}, float(a), 1.0, 1)
                       for i, a in enumerate(avg)])
    for s in (0, 1):
        for i in range(len(avg)) if s == 0 else range(len(avg) // 4):  # a quarter repeated
            even, odd = halves[s][0][i], halves[s][1][i]
            full = (even + odd) / 2
            if target_in_halves_table:
                store.add_result(ResultRow(i, s, 0.9, 0.1, full, 0.9, 0.9, 0.0,
                                           halves={"kl": (even, odd)}))
            else:
                store.add_result(ResultRow(i, s, full, 0.1, 0.0, even, odd, 0.0))
    return store


@pytest.mark.parametrize("target", ["accuracy", "kl"])
def test_ceilings_of_a_stored_benchmark(tmp_path, target):
    avg, _, halves = _plant(n=960, seed=2)
    store = _store(tmp_path / "planted.db", avg, halves, target == "kl")
    found = ceilings(store, target, resamples=500)
    store.close()
    assert found["halves"].configs == 960
    assert found["seeds"].configs == found["independent"].configs == 240
    planted = np.sqrt(1 / (1 + CALIB + EVAL_HALF / 2))
    low, high = found["independent"].ceiling_ci  # 240 configurations: a wide interval
    assert found["independent"].ceiling == pytest.approx(planted, abs=0.08)
    assert low < planted < high
    assert found["halves"].ceiling == pytest.approx(
        np.sqrt((1 + CALIB) / (1 + CALIB + EVAL_HALF / 2)), abs=0.04)


def test_bench_info_json_reports_every_ceiling(tmp_path):
    avg, _, halves = _plant(n=480, seed=3)
    _store(tmp_path / "planted.db", avg, halves, False).close()
    out = subprocess.run([sys.executable, "-m", "tapq.cli", "bench", "info",
                          str(tmp_path / "planted.db"), "--json"],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    assert info["target"] == "accuracy" and info["ceiling_source"] == "independent"
    assert info["ceiling"] == info["ceilings"]["independent"]["ceiling"]
    low, high = info["ceiling_ci"]
    assert 0 <= low <= info["ceiling"] <= high <= 1
    for source in ("halves", "seeds", "independent"):
        entry = info["ceilings"][source]
        assert {"configs", "method", "reliability", "ceiling", "ceiling_ci", "reliability_plain",
                "ceiling_plain", "ceiling_plain_ci", "bands"} <= set(entry)
        assert entry["bands"] and all(
            {"avg_bits", "configs", "reliability", "ceiling", "ceiling_ci"} <= set(b)
            for b in entry["bands"])
    table = subprocess.run([sys.executable, "-m", "tapq.cli", "bench", "info",
                            str(tmp_path / "planted.db")], capture_output=True, text=True,
                           check=True, env={**os.environ, "COLUMNS": "200"}).stdout
    assert "pooled (iso)" in table and "independent" in table and "Spearman-Brown" in table


def test_a_benchmark_without_kl_halves_says_they_are_not_measured(tmp_path):
    avg, _, halves = _plant(n=96, seed=4)
    store = _store(tmp_path / "old.db", avg, halves, False)
    found = ceilings(store, "kl", resamples=100)
    store.close()
    assert found["halves"] is None and found["independent"] is None
    assert found["seeds"] is not None  # KL on the whole split under both seeds is stored
