"""Intervals: the stratified paired bootstrap of iso-budget rho, and binomial accuracies."""
import numpy as np
import pytest
from scipy import stats

from tapq.correlation import iso_budget_spearman
from tapq.intervals import binomial_interval, iso_intervals, verdict


def _proxies(n=240, noises=(0.2, 0.25, 3.0), seed=0):
    """Proxies that share an error (as real ones do: they read the same statistics)
    plus their own."""
    rng = np.random.default_rng(seed)
    avg = rng.uniform(2, 8, n)
    values = rng.normal(size=n)
    shared = rng.normal(scale=0.6, size=n)
    scores = np.stack([-(values + shared + rng.normal(scale=s, size=n)) for s in noises])
    return scores, values, avg


def test_point_estimates_are_the_fitness_itself():
    scores, values, avg = _proxies()
    found = iso_intervals(scores, values, avg, reference=0)
    expected = [iso_budget_spearman(s, values, avg) for s in scores]
    assert found.rho == pytest.approx(expected)
    assert found.delta == pytest.approx(np.array(expected) - expected[0])
    assert (found.rho_ci[:, 0] <= found.rho).all() and (found.rho <= found.rho_ci[:, 1]).all()
    assert found.delta_ci[0].tolist() == [0.0, 0.0]


def test_paired_interval_separates_a_clear_gap_and_not_a_tiny_one():
    scores, values, avg = _proxies()
    found = iso_intervals(scores, values, avg, reference=0)
    assert verdict(found.delta_ci[2]) == "loses to"            # own noise 3.0 vs 0.2
    assert verdict(found.delta_ci[1]) == "indistinguishable from"  # 0.25 vs 0.2
    # pairing: the difference's interval is narrower than either proxy's own
    width = np.diff(found.delta_ci[1])[0]
    assert width < np.diff(found.rho_ci[0])[0] and width < np.diff(found.rho_ci[1])[0]


def test_interval_covers_the_truth_about_95_percent_of_the_time():
    # repeated fresh benchmarks of the same two proxies: the 95% interval of the
    # difference should cover the difference seen on a very large benchmark
    big = _proxies(n=20000, noises=(0.2, 0.5), seed=99)
    truth = np.subtract(*[iso_budget_spearman(s, big[1], big[2]) for s in big[0][::-1]])
    covered = 0
    for seed in range(40):
        scores, values, avg = _proxies(n=160, noises=(0.2, 0.5), seed=seed)
        low, high = iso_intervals(scores, values, avg, reference=0, n_resamples=500).delta_ci[1]
        covered += low <= truth <= high
    assert covered >= 33  # 95% of 40 is 38; binomial slack


def test_no_band_large_enough_gives_nan_not_a_number():
    scores, values, _ = _proxies(n=20)
    found = iso_intervals(scores, values, np.linspace(2, 8, 20), reference=0)
    assert np.isnan(found.rho).all() and np.isnan(found.rho_ci).all()


def test_binomial_interval_is_clopper_pearson():
    low, high = binomial_interval(0.9, 1000)
    expected = stats.binomtest(900, 1000).proportion_ci(0.95)
    assert (low, high) == pytest.approx((expected.low, expected.high))
    assert low < 0.9 < high and high - low < 0.04


def test_verdict_words():
    assert verdict((0.01, 0.2)) == "beats"
    assert verdict((-0.2, -0.01)) == "loses to"
    assert verdict((-0.01, 0.2)) == "indistinguishable from"
