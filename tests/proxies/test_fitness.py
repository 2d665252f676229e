import numpy as np
import pytest
from scipy import stats

from tapq.bench import BenchData
from tapq.errors import TapqError
from tapq.proxies.fitness import (config_scores, fitness, iso_budget_spearman, iso_undefined,
                                  split_metrics)


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


def _data(values, split, avg_bits=None, target="accuracy"):
    n = len(values)
    return BenchData(layers=["a"], bits=np.zeros((n, 1), int),
                     avg_bits=np.full(n, 4.0) if avg_bits is None else avg_bits,
                     split=np.array(split), targets={"accuracy": np.asarray(values, float),
                                                     "kl": -np.asarray(values, float),
                                                     "agreement": np.full(n, np.nan)},
                     target=target, bit_choices=[2, 8])


def test_each_split_is_scored_separately():
    scores = np.arange(30.0)
    accuracy = -scores.copy()
    accuracy[:10] = scores[:10]  # wrong on the select split only
    split = ["select"] * 10 + ["search"] * 10 + ["test"] * 10
    result = fitness("p", scores, _data(accuracy, split), ms=1.0)
    assert result.spearman == pytest.approx(1.0) and result.spearman_select == pytest.approx(-1.0)
    assert result.spearman_test == pytest.approx(1.0)
    assert result.spearman_iso_test == pytest.approx(1.0)


def test_kl_is_ranked_lower_is_better():
    scores = np.arange(20.0)
    accuracy = -scores  # the most sensitive configuration is the least accurate ...
    kl = _data(accuracy, ["search"] * 20, target="kl")  # ... and has the largest KL
    assert fitness("p", scores, kl, 0).spearman == pytest.approx(1.0)
    assert kl.values.tolist() == accuracy.tolist()


def test_a_missing_target_is_a_one_line_error():
    with pytest.raises(TapqError, match="no agreement .*targets it has: accuracy, kl"):
        _data(np.arange(10.0), ["search"] * 10).with_target("agreement")


def test_undefined_iso_fitness_says_what_and_why():
    data = _data(np.arange(12.0), ["search"] * 4 + ["test"] * 8,
                 avg_bits=np.linspace(2, 8, 12))
    why = iso_undefined(data)
    assert "no 0.5-bit average-bit band of the search split has the 8" in why
    assert "(4 configurations in all)" in why
    assert iso_undefined(_data(np.arange(12.0), ["search"] * 12)) is None
