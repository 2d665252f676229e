"""Prompt strategies: an operator (init, mutate, crossover) and a hint, and the one spelling
of a strategy's key that prompts, stored candidates and the controller's policy share."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OPERATORS", "Strategy", "strategy_key"]

OPERATORS = ("init", "mutate", "crossover")


def strategy_key(operator: str, hint: str) -> str:
    """The controller's name for a strategy, e.g. ``mutate/fisher``."""
    return f"{operator}/{hint}"


@dataclass(frozen=True)
class Strategy:
    """One arm of the controller: an operator and a hint."""

    operator: str
    hint: str

    @property
    def key(self) -> str:
        return strategy_key(self.operator, self.hint)
