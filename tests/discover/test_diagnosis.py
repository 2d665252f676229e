"""Implied costs and a parent's diagnosis, on a benchmark with a planted additive truth."""
import numpy as np

from tapq.bench import BenchData
from tapq.discover.diagnosis import diagnose, implied_costs, render

BITS = [2, 4, 8]


def _planted(layers=5, n=400, seed=0):
    """Accuracies that are exactly 0.9 minus an additive cost table, plus small noise."""
    rng = np.random.default_rng(seed)
    costs = np.zeros((layers, 3))
    costs[:, 0] = rng.uniform(0.02, 0.2, layers)     # 2 bits costs most
    costs[:, 1] = costs[:, 0] * rng.uniform(0.05, 0.3, layers)
    choice = rng.integers(0, 3, size=(n, layers))
    bits = np.array(BITS)[choice]
    accuracy = 0.9 - costs[np.arange(layers), choice].sum(1) + 0.001 * rng.standard_normal(n)
    split = np.where(np.arange(n) % 5 == 0, "select", "search")
    data = BenchData([f"l{i}" for i in range(layers)], bits, bits.mean(1), split,
                     {"accuracy": accuracy}, "accuracy", BITS)
    return data, costs


def test_implied_costs_recover_a_planted_additive_table():
    data, planted = _planted()
    fitted = implied_costs(data, data.in_split("search"))
    assert fitted.r2 > 0.99
    assert np.allclose(fitted.costs, planted, atol=0.005)
    assert np.all(fitted.costs[:, BITS.index(8)] == 0)   # the widest bit-width is the reference


def test_the_diagnosis_names_the_over_and_under_rated_cells():
    data, planted = _planted()
    costs = implied_costs(data, data.in_split("search"))
    wrong = planted.copy()
    hottest = int(np.argmax(planted[:, 0]))
    coolest = int(np.argmin(planted[:, 0]))
    wrong[hottest, 0], wrong[coolest, 0] = planted[coolest, 0] / 10, planted[hottest, 0] * 3
    found = diagnose(wrong, data, data.in_split("search"), costs, count=1)
    assert (found.over[0].index, found.over[0].bits) == (coolest, 2)
    assert (found.under[0].index, found.under[0].bits) == (hottest, 2)
    perfect = diagnose(planted, data, data.in_split("search"), costs)
    assert perfect.over == [] and perfect.under == []
    assert all(rho > 0.9 for *_, rho in perfect.bands)
    text = render(found)
    assert f"over-rates layer {coolest} (l{coolest}) at 2 bits" in text
    assert f"under-rates layer {hottest} (l{hottest}) at 2 bits" in text
