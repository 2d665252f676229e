"""Exact bit allocation by mixed-integer linear programming.

Choose one bit-width per layer to minimise the total proxy sensitivity sum_l T[l, b_l]
subject to budgets. With one binary x[l, j] per (layer, bit choice):

    minimise    sum T[l, j] x[l, j]
    subject to  sum_j x[l, j] = 1                       for every layer
                sum A_k[l, j] x[l, j] <= budget_k        for every budget k
                x[l, j] = x[m, j]                        for tied layers l, m
                x[l, j] fixed                            for pinned layers

Budget rows are linear because size, average bits and BitOps are sums over layers of
(layer constant x bit-width). Solved by HiGHS through ``scipy.optimize.milp``; because
solvers allow a small feasibility tolerance, every solution is checked against the
budgets with the cost model and re-solved with a tightened bound if it overshoots.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from tapq.allocate.budget import Budget
from tapq.errors import TapqError
from tapq.quant import BitConfig, ModelCosts


@dataclass(frozen=True)
class Allocation:
    """The chosen configuration and what it costs.

    Attributes:
        config: the bit configuration (weights as chosen, activations at the given bits).
        objective: total proxy sensitivity of the configuration.
        costs: budget kind -> this configuration's cost.
        solve_ms: milliseconds spent in the solver.
    """

    config: BitConfig
    objective: float
    costs: dict[str, float] = field(default_factory=dict)
    solve_ms: float = 0.0


def _budget_rows(budget: Budget, costs: ModelCosts, layers: Sequence[str],
                 bits: Sequence[int], a_bits: dict[str, int]) -> tuple[np.ndarray, float]:
    """Coefficients A[l, j] and right-hand side of one budget, in its own units."""
    params = np.array([costs.layers[n].num_params for n in layers], dtype=float)
    b = np.asarray(bits, dtype=float)
    if budget.kind == "avg-bits":
        return params[:, None] * b[None, :] / params.sum(), budget.value
    if budget.kind == "size-mb":
        to_mb = 1 / 8 / 2 ** 20
        fixed = 32 * costs.other_params * to_mb
        fixed += sum(c.num_params * 32 for n, c in costs.layers.items() if n not in layers) * to_mb
        return params[:, None] * b[None, :] * to_mb, budget.value - fixed
    macs = np.array([costs.layers[n].macs * a_bits[n] for n in layers], dtype=float)
    fixed = sum(c.macs * 32 * 32 for n, c in costs.layers.items() if n not in layers)
    return macs[:, None] * b[None, :], budget.value - fixed


def _solve(objective: np.ndarray, rows: list[tuple[np.ndarray, float]], layers: Sequence[str],
           bits: Sequence[int], pinned: dict[str, int], tied: Sequence[Sequence[str]]
           ) -> np.ndarray | None:
    """Index of the chosen bit per layer, or None if infeasible."""
    n_layers, n_bits = objective.shape
    constraints = [LinearConstraint(np.kron(np.eye(n_layers), np.ones(n_bits)), 1, 1)]
    for coefficients, bound in rows:
        scale = max(abs(bound), 1e-12)  # rows scaled to order 1 for the solver
        constraints.append(LinearConstraint(coefficients.ravel() / scale, -np.inf, bound / scale))
    position = {name: i for i, name in enumerate(layers)}
    for group in tied:
        for other in group[1:]:
            eq = np.zeros((n_bits, n_layers * n_bits))
            for j in range(n_bits):
                eq[j, position[group[0]] * n_bits + j] = 1
                eq[j, position[other] * n_bits + j] = -1
            constraints.append(LinearConstraint(eq, 0, 0))
    upper = np.ones((n_layers, n_bits))
    for name, b in pinned.items():
        upper[position[name]] = 0
        upper[position[name], list(bits).index(b)] = 1
    result = milp(objective.ravel(), constraints=constraints, integrality=np.ones(upper.size),
                  bounds=Bounds(0, upper.ravel()))
    if result.x is None:
        return None
    return result.x.reshape(n_layers, n_bits).argmax(1)


def allocate(table: np.ndarray, layers: Sequence[str], bits: Sequence[int], costs: ModelCosts,
             budgets: Sequence[Budget], a_bits: int | dict[str, int] = 8,
             pinned: dict[str, int] | None = None, tied: Sequence[Sequence[str]] = (),
             model: str = "") -> Allocation:
    """The configuration minimising total sensitivity `table` (layers x bits) under `budgets`.

    Args:
        table: T[l, j], the proxy's sensitivity of layer l at bits[j].
        layers: layer names, the rows of `table`.
        bits: candidate weight bit-widths, the columns of `table`.
        costs: the model's measured costs (parameters and MACs per layer).
        budgets: upper bounds that must all hold.
        a_bits: activation bits of every layer (or per layer); they enter BitOps.
        pinned: layers held at a given weight bit-width.
        tied: groups of layers that must share one bit-width.
        model: model spec recorded in the returned configuration.

    Raises:
        TapqError: if no configuration fits, naming the smallest feasible budget value.
    """
    pinned, bits = dict(pinned or {}), list(bits)
    a_map = a_bits if isinstance(a_bits, dict) else dict.fromkeys(layers, a_bits)
    _check(table, layers, bits, pinned, tied)
    rows = [_budget_rows(b, costs, layers, bits, a_map) for b in budgets]
    start = time.perf_counter()
    choice = _solve(np.asarray(table, dtype=float), rows, layers, bits, pinned, tied)
    for _ in range(5):  # the solver's tolerance may overshoot a budget by a hair
        if choice is None:
            break
        config = _config(choice, layers, bits, a_map, pinned, model)
        over = [i for i, b in enumerate(budgets) if b.cost(costs, config) > b.value]
        if not over:
            break
        for i in over:
            coefficients, bound = rows[i]
            rows[i] = (coefficients, bound - 1e-6 * max(abs(bound), 1.0))
        choice = _solve(np.asarray(table, dtype=float), rows, layers, bits, pinned, tied)
    solve_ms = 1000 * (time.perf_counter() - start)
    if choice is None:
        raise TapqError(_infeasible_message(budgets, costs, layers, bits, a_map, pinned, tied))
    config = _config(choice, layers, bits, a_map, pinned, model)
    objective = float(np.asarray(table)[np.arange(len(layers)), choice].sum())
    return Allocation(config, objective, {b.kind: b.cost(costs, config) for b in budgets},
                      solve_ms)


def _config(choice: np.ndarray, layers: Sequence[str], bits: list[int], a_bits: dict[str, int],
            pinned: dict[str, int], model: str) -> BitConfig:
    return BitConfig(w={n: bits[j] for n, j in zip(layers, choice)},
                     a={n: a_bits[n] for n in layers}, model=model, pinned=list(pinned))


def _check(table: np.ndarray, layers: Sequence[str], bits: list[int], pinned: dict[str, int],
           tied: Sequence[Sequence[str]]) -> None:
    if np.shape(table) != (len(layers), len(bits)):
        raise TapqError(f"sensitivity table has shape {np.shape(table)}, expected "
                        f"({len(layers)}, {len(bits)})")
    if not np.all(np.isfinite(table)):
        raise TapqError("sensitivity table has non-finite values")
    known = set(layers)
    for name, b in pinned.items():
        if name not in known:
            raise TapqError(f"pinned layer {name!r} is not in the model")
        if b not in bits:
            raise TapqError(f"pinned layer {name!r} at {b} bits, not a candidate ({bits})")
    for group in tied:
        unknown = [n for n in group if n not in known]
        if unknown:
            raise TapqError(f"tied layer(s) not in the model: {', '.join(unknown)}")
        held = {pinned[n] for n in group if n in pinned}
        if len(held) > 1:
            raise TapqError(f"tied layers {', '.join(group)} are pinned to different bits")


def _infeasible_message(budgets: Sequence[Budget], costs: ModelCosts, layers: Sequence[str],
                        bits: list[int], a_bits: dict[str, int], pinned: dict[str, int],
                        tied: Sequence[Sequence[str]]) -> str:
    """Say which budget cannot be met and the smallest value that could be."""
    parts = []
    for budget in budgets:
        coefficients, _ = _budget_rows(budget, costs, layers, bits, a_bits)
        choice = _solve(coefficients, [], layers, bits, pinned, tied)
        if choice is None:
            return "pinned and tied layers contradict each other"
        smallest = budget.cost(costs, _config(choice, layers, bits, a_bits, pinned, ""))
        if smallest > budget.value:
            parts.append(f"{budget.kind}={budget.value:g} is below the smallest feasible "
                         f"{budget.kind}={smallest:.6g}")
    detail = "; ".join(parts) or "the budgets cannot all hold at once"
    return f"no configuration fits the budget: {detail}"
