"""Allocation: the bit-width per layer that minimises proxy sensitivity under a budget,
and what it buys, measured."""
from tapq.allocate.budget import BUDGET_KINDS, Budget, check_pin, first_last_pins
from tapq.allocate.milp import Allocation, allocate
from tapq.allocate.workflow import (Comparer, CompareRow, compare, oracle_config, pareto_sweep,
                                    uniform_sweep)

__all__ = ["Allocation", "BUDGET_KINDS", "Budget", "CompareRow", "Comparer", "allocate",
           "check_pin", "compare", "first_last_pins", "oracle_config", "pareto_sweep",
           "uniform_sweep"]
