import numpy as np
import pytest
from scipy import stats

from tapq.proxies.fitness import (config_scores, fitness, iso_budget_spearman, split_metrics)


def test_scores_are_a_gather_and_sum():
    table = np.array([[5.0, 2.0, 1.0], [10.0, 4.0, 0.5]])  # 2 layers x bits (2, 4, 8)
    bits = np.array([[2, 8], [4, 4], [8, 2]])
    assert config_scores(table, [2, 4, 8], bits).tolist() == [5.5, 6.0, 11.0]


def test_metrics_agree_with_scipy_on_a_hand_made_example():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=40)
    accuracy = -scores + rng.normal(scale=0.5, size=40)
    metrics = split_metrics(scores, accuracy, np.full(40, 4.0))
    assert metrics["spearman"] == pytest.approx(stats.spearmanr(-scores, accuracy)[0])
    assert metrics["kendall"] == pytest.approx(stats.kendalltau(-scores, accuracy)[0])
    assert metrics["pearson"] == pytest.approx(stats.pearsonr(-scores, accuracy)[0])
    top = accuracy >= np.quantile(accuracy, 0.8)
    assert metrics["spearman_top20"] == pytest.approx(
        stats.spearmanr(-scores[top], accuracy[top])[0])
    # one band holds everything: iso-budget equals the plain correlation
    assert metrics["spearman_iso"] == pytest.approx(metrics["spearman"])


def test_iso_budget_is_the_count_weighted_mean_over_bands():
    rng = np.random.default_rng(1)
    avg_bits = np.concatenate([np.full(10, 2.1), np.full(30, 6.2)])
    scores = rng.normal(size=40)
    accuracy = rng.normal(size=40)
    low, high = slice(0, 10), slice(10, 40)
    expected = (10 * stats.spearmanr(-scores[low], accuracy[low])[0]
                + 30 * stats.spearmanr(-scores[high], accuracy[high])[0]) / 40
    assert iso_budget_spearman(scores, accuracy, avg_bits) == pytest.approx(expected)


def test_size_only_proxy_is_good_overall_but_blind_within_a_band():
    rng = np.random.default_rng(2)
    avg_bits = rng.uniform(2, 8, 600)
    # accuracy rises with bits, plus a per-configuration effect a size proxy cannot see
    accuracy = np.log(avg_bits) + rng.normal(scale=0.15, size=600)
    size_scores = -avg_bits
    metrics = split_metrics(size_scores, accuracy, avg_bits)
    assert metrics["spearman"] > 0.8
    assert abs(metrics["spearman_iso"]) < 0.3


def test_validation_split_is_scored_separately():
    scores = np.arange(20.0)
    accuracy = -scores.copy()
    accuracy[:10] = scores[:10]  # wrong on the first half only
    is_val = np.arange(20) < 10
    result = fitness("p", scores, accuracy, np.full(20, 4.0), is_val, ms=1.0)
    assert result.spearman == pytest.approx(1.0) and result.spearman_val == pytest.approx(-1.0)
