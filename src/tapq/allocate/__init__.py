"""Allocation: the bit-width per layer that minimises proxy sensitivity under a budget."""
from tapq.allocate.budget import BUDGET_KINDS, Budget
from tapq.allocate.milp import Allocation, allocate

__all__ = ["Allocation", "BUDGET_KINDS", "Budget", "allocate"]
