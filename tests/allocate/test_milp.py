import itertools

import numpy as np
import pytest

from tapq.allocate import Budget, allocate
from tapq.errors import TapqError
from tapq.quant import BitConfig, ModelCosts
from tapq.quant.cost import LayerCost

LAYERS = ["a", "b", "c", "d"]
BITS = [2, 4, 8]
COSTS = ModelCosts({"a": LayerCost(100, 5000), "b": LayerCost(400, 2000),
                    "c": LayerCost(250, 8000), "d": LayerCost(50, 700)}, other_params=30)


def _brute_force(table, budgets, pinned=None, tied=()):
    best, best_value = None, np.inf
    for choice in itertools.product(range(len(BITS)), repeat=len(LAYERS)):
        w = {n: BITS[j] for n, j in zip(LAYERS, choice)}
        if pinned and any(w[n] != b for n, b in pinned.items()):
            continue
        if any(len({w[n] for n in group}) > 1 for group in tied):
            continue
        config = BitConfig(w, dict.fromkeys(LAYERS, 8))
        if any(b.cost(COSTS, config) > b.value for b in budgets):
            continue
        value = sum(table[i, j] for i, j in enumerate(choice))
        if value < best_value:
            best, best_value = w, value
    return best, best_value


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("budget", ["avg-bits=3.5", "size-mb=0.0006", "bitops=1.2e6"])
def test_milp_finds_the_brute_force_optimum(seed, budget):
    rng = np.random.default_rng(seed)
    # sensitivities fall with bits, as real proxies do, but at layer-specific rates
    table = np.sort(rng.random((4, 3)) * rng.uniform(0.1, 10, (4, 1)), axis=1)[:, ::-1].copy()
    budgets = [Budget.parse(budget)]
    result = allocate(table, LAYERS, BITS, COSTS, budgets)
    expected, value = _brute_force(table, budgets)
    assert result.objective == pytest.approx(value)
    assert result.config.w == expected or result.objective == pytest.approx(value)
    assert all(b.cost(COSTS, result.config) <= b.value for b in budgets)


def test_several_budgets_at_once_are_all_respected():
    rng = np.random.default_rng(99)
    table = np.sort(rng.random((4, 3)), axis=1)[:, ::-1].copy()
    budgets = [Budget.parse("avg-bits=5"), Budget.parse("bitops=1.0e6")]
    result = allocate(table, LAYERS, BITS, COSTS, budgets)
    _, value = _brute_force(table, budgets)
    assert result.objective == pytest.approx(value)
    assert result.costs["avg-bits"] <= 5 and result.costs["bitops"] <= 1.0e6


def test_budget_is_respected_exactly_at_the_boundary():
    # avg-bits = 4 exactly is reachable (all layers at 4): it must be allowed, 3.999 not
    table = np.tile([3.0, 2.0, 0.0], (4, 1))
    at = allocate(table, LAYERS, BITS, COSTS, [Budget.parse("avg-bits=4")])
    assert at.costs["avg-bits"] <= 4.0
    below = allocate(table, LAYERS, BITS, COSTS, [Budget.parse("avg-bits=3.999")])
    assert below.costs["avg-bits"] <= 3.999


def test_pinned_and_tied_layers_hold():
    rng = np.random.default_rng(5)
    table = np.sort(rng.random((4, 3)), axis=1)[:, ::-1].copy()
    budgets = [Budget.parse("avg-bits=3.2")]
    pinned, tied = {"a": 8}, [["b", "c"]]
    result = allocate(table, LAYERS, BITS, COSTS, budgets, pinned=pinned, tied=tied)
    assert result.config.w["a"] == 8 and result.config.w["b"] == result.config.w["c"]
    _, value = _brute_force(table, budgets, pinned, tied)
    assert result.objective == pytest.approx(value)
    assert result.config.pinned == ["a"]


def test_infeasible_budget_names_the_smallest_feasible_value():
    table = np.ones((4, 3))
    with pytest.raises(TapqError, match=r"smallest feasible avg-bits=2\b"):
        allocate(table, LAYERS, BITS, COSTS, [Budget.parse("avg-bits=1.5")])
    # with a layer pinned at 8 bits the floor rises: (100*8 + 700*2) / 800 = 2.75
    with pytest.raises(TapqError, match=r"smallest feasible avg-bits=2.75\b"):
        allocate(table, LAYERS, BITS, COSTS, [Budget.parse("avg-bits=2.5")], pinned={"a": 8})


@pytest.mark.parametrize("text", ["avg-bits", "size=3", "bitops=x", "avg-bits=-1"])
def test_bad_budget_text(text):
    with pytest.raises(TapqError):
        Budget.parse(text)


def test_bad_pins_and_ties():
    table = np.ones((4, 3))
    budget = [Budget.parse("avg-bits=8")]
    with pytest.raises(TapqError, match="not a candidate"):
        allocate(table, LAYERS, BITS, COSTS, budget, pinned={"a": 6})
    with pytest.raises(TapqError, match="not in the model"):
        allocate(table, LAYERS, BITS, COSTS, budget, tied=[["a", "zz"]])
    with pytest.raises(TapqError, match="pinned to different bits"):
        allocate(table, LAYERS, BITS, COSTS, budget, pinned={"a": 2, "b": 8}, tied=[["a", "b"]])


@pytest.mark.parametrize("seed", range(4))
def test_reduced_cost_fixing_keeps_the_optimum_of_large_problems(seed):
    """60 layers x 7 bits: the allocation equals a plain HiGHS solve of the full model
    (no variable fixed), under a size budget and with a tie and a pin."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    rng = np.random.default_rng(seed)
    bits = [2, 3, 4, 5, 6, 7, 8]
    names = [f"l{i}" for i in range(60)]
    params = rng.integers(1_000, 200_000, len(names))
    costs = ModelCosts({n: LayerCost(int(p), int(p) * 10) for n, p in zip(names, params)}, 0)
    table = np.sort(rng.random((60, 7)) * rng.uniform(0.01, 10, (60, 1)), 1)[:, ::-1].copy()
    value = float((params * 5).sum() / 8 / 2 ** 20)
    pinned, tied = {"l0": 8}, [["l1", "l2"]]
    result = allocate(table, names, bits, costs, [Budget("size-mb", value)], pinned=pinned,
                      tied=tied)
    a = (params[:, None] * np.array(bits)[None, :] / 8 / 2 ** 20).ravel()
    upper = np.ones((60, 7))
    upper[0, :6] = 0
    tie = np.zeros((7, 420))
    tie[np.arange(7), 7 + np.arange(7)], tie[np.arange(7), 14 + np.arange(7)] = 1, -1
    plain = milp(table.ravel(), integrality=np.ones(420), bounds=Bounds(0, upper.ravel()),
                 constraints=[LinearConstraint(np.kron(np.eye(60), np.ones(7)), 1, 1),
                              LinearConstraint(a / value, -np.inf, 1), LinearConstraint(tie, 0, 0)])
    assert result.objective == pytest.approx(plain.fun, rel=1e-9)
    assert result.costs["size-mb"] <= value
    assert result.config.w["l0"] == 8 and result.config.w["l1"] == result.config.w["l2"]
