"""Budgets an allocation must fit: average weight bits, model size, or BitOps.

Each budget is a linear function of the per-layer bit choice, which is what lets the
allocation be solved exactly by integer programming.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from tapq.errors import TapqError
from tapq.quant import BitConfig, ModelCosts

BUDGET_KINDS = ("avg-bits", "size-mb", "bitops")


@dataclass(frozen=True)
class Budget:
    """An upper bound on one cost of the quantized model.

    Attributes:
        kind: ``avg-bits`` (parameter-weighted average weight bits), ``size-mb`` (model
            size, MB = 2^20 bytes, as ModelCosts.size_mb) or ``bitops`` (per example).
        value: the bound (inclusive).
    """

    kind: str
    value: float

    @classmethod
    def parse(cls, text: str) -> "Budget":
        """Parse ``KIND=VALUE``, e.g. ``avg-bits=3.0``, ``size-mb=0.02``, ``bitops=2e8``."""
        kind, _, value = text.partition("=")
        if kind not in BUDGET_KINDS or not value:
            raise TapqError(f"budget {text!r} is not KIND=VALUE with KIND one of "
                            f"{', '.join(BUDGET_KINDS)}")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):  # nan and inf parse as floats but bound nothing
            raise TapqError(f"budget value {value!r} is not a number")
        if number <= 0:
            raise TapqError(f"budget {text!r} must be positive")
        return cls(kind, number)

    def cost(self, costs: ModelCosts, config: BitConfig) -> float:
        """This budget's cost of `config` (same units as `value`)."""
        if self.kind == "avg-bits":
            return costs.avg_w_bits(config)
        if self.kind == "size-mb":
            return costs.size_mb(config)
        return float(costs.bitops(config))

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"


def first_last_pins(layers: list[str], bits: list[int] | tuple[int, ...],
                    pin_bits: int | None) -> dict[str, int]:
    """The first and last layer held at `pin_bits` (empty when None): the usual practice,
    since the stem sees raw inputs and the classifier's errors go straight to the output.

    Raises TapqError unless `pin_bits` is one of the candidate `bits`.
    """
    if pin_bits is None:
        return {}
    check_pin(bits, pin_bits)
    return {layers[0]: pin_bits, layers[-1]: pin_bits} if layers else {}


def check_pin(bits: list[int] | tuple[int, ...], pin_bits: int | None) -> None:
    """TapqError unless `pin_bits` (None: no pin) is a candidate bit-width; cheap, so a
    command checks it before loading any model."""
    if pin_bits is not None and pin_bits not in bits:
        raise TapqError(f"--pin-first-last {pin_bits} is not in --bits {list(bits)}")
