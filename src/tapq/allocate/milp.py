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

import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

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
    """Index of the chosen bit per layer, or None if infeasible.

    Before branch and bound, the LP relaxation (a few ms) gives a lower bound and reduced
    costs, a rounded-and-greedily-filled LP solution gives a feasible incumbent, and every
    variable whose reduced cost exceeds the gap between the two is fixed at 0: no solution
    better than the incumbent can use it (LP reduced-cost fixing, exact). On 60 x 7
    problems this leaves about a quarter of the variables for HiGHS (BENCHMARKS.md).
    """
    n_layers, n_bits = objective.shape
    one_hot = np.kron(np.eye(n_layers), np.ones(n_bits))
    budget_a = np.array([c.ravel() / max(abs(b), 1e-12) for c, b in rows]).reshape(
        len(rows), n_layers * n_bits)
    budget_b = np.array([b / max(abs(b), 1e-12) for _, b in rows])  # rows scaled to order 1
    position = {name: i for i, name in enumerate(layers)}
    groups = [[position[n] for n in group] for group in tied]
    tie_rows = []
    for group in groups:
        for other in group[1:]:
            for j in range(n_bits):
                row = np.zeros(n_layers * n_bits)
                row[group[0] * n_bits + j], row[other * n_bits + j] = 1, -1
                tie_rows.append(row)
    a_eq = np.vstack([one_hot, *tie_rows]) if tie_rows else one_hot
    b_eq = np.concatenate([np.ones(n_layers), np.zeros(len(tie_rows))])
    upper = np.ones((n_layers, n_bits))
    for name, b in pinned.items():
        upper[position[name]] = 0
        upper[position[name], list(bits).index(b)] = 1
    c = objective.ravel()
    relaxed = linprog(c, A_ub=budget_a if rows else None, b_ub=budget_b if rows else None,
                      A_eq=a_eq, b_eq=b_eq, bounds=np.stack([np.zeros(c.size), upper.ravel()], 1),
                      method="highs")
    if relaxed.status == 2:  # the relaxation is infeasible, so is the integer problem
        return None
    if relaxed.status == 0:
        incumbent = _incumbent(relaxed.x.reshape(n_layers, n_bits), objective, budget_a,
                               budget_b, bits, groups, upper)
        if incumbent is not None:
            gap = objective[np.arange(n_layers), incumbent].sum() - relaxed.fun
            tolerance = 1e-7 * (1 + abs(relaxed.fun))
            upper = np.where(relaxed.lower.marginals.reshape(upper.shape) > gap + tolerance,
                             0, upper)
    constraints = [LinearConstraint(a_eq, b_eq, b_eq)]
    if rows:
        constraints.append(LinearConstraint(budget_a, -np.inf, budget_b))
    with _quiet_stdout():
        result = milp(c, constraints=constraints, integrality=np.ones(c.size),
                      bounds=Bounds(0, upper.ravel()))
    if result.x is None:
        return None
    return result.x.reshape(n_layers, n_bits).argmax(1)


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence HiGHS's C-level debug prints (they would corrupt ``--json`` output)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _incumbent(x: np.ndarray, objective: np.ndarray, budget_a: np.ndarray,
               budget_b: np.ndarray, bits: Sequence[int], groups: list[list[int]],
               upper: np.ndarray) -> np.ndarray | None:
    """A feasible integer solution near the LP optimum `x`, or None.

    Each layer takes the fewest bits its LP solution uses (every budget grows with bits,
    so rounding down stays within budget); then, while some budget has slack, the upgrade
    (of a layer, or of a tied group together) that lowers the objective most and still
    fits is applied.
    """
    n_layers, n_bits = objective.shape
    order = np.argsort(bits)
    choice = np.array([order[np.isin(order, np.flatnonzero(row > 1e-9))][0] for row in x])
    grouped = {i for group in groups for i in group}
    units = [np.array(g) for g in groups] + [np.array([i]) for i in range(n_layers)
                                             if i not in grouped]
    for unit in units:
        choice[unit] = choice[unit[0]]
    cost = budget_a.reshape(len(budget_b), n_layers, n_bits)
    used = cost[:, np.arange(n_layers), choice].sum(1)
    if np.any(used > budget_b):
        return None
    allowed = upper > 0
    while True:
        best_gain, best = 1e-12, None
        for unit in units:
            gain = (objective[unit, choice[unit]][:, None] - objective[unit]).sum(0)
            extra = (cost[:, unit, :] - cost[:, unit, choice[unit]][:, :, None]).sum(1)
            fits = np.all(used[:, None] + extra <= budget_b[:, None], 0)
            fits &= np.all(allowed[unit], 0)
            gain = np.where(fits, gain, -np.inf)
            j = int(np.argmax(gain))
            if gain[j] > best_gain:
                best_gain, best = gain[j], (unit, j, extra[:, j])
        if best is None:
            return choice
        unit, j, extra = best
        choice[unit] = j
        used = used + extra


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
