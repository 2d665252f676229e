"""Which PTQ the statistics' ``ptq_weights`` and ``delta_loss`` follow.

A proxy scored on a benchmark must see the quantization that benchmark measured: its
method (RTN or AdaRound) and settings, its weight bit-widths and its activation
bit-width. A benchmark file records all three (``ptq_settings`` and ``spec``); without
one (allocating a model no benchmark describes) tapq's default PTQ is used.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PTQView"]


@dataclass(frozen=True)
class PTQView:
    """PTQ settings (their dict form; None: the defaults), weight bit-widths and
    activation bit-width; delta_loss's background is the widest of `bits`."""

    settings: dict | None = None
    bits: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    a_bits: int = 8

    @classmethod
    def of(cls, meta: dict) -> PTQView:
        """The view of a benchmark's metadata (an imported one records no PTQ: defaults)."""
        spec = meta.get("spec") or {}
        settings = meta.get("ptq_settings")
        if settings is None and spec.get("ptq") in ("rtn", "adaround"):
            settings = {"weight_rounding": spec["ptq"]}
        bits = {int(b) for b in spec.get("bits") or cls.bits}
        if spec.get("pin_first_last") is not None:  # the pinned layers' bit-width is a cell too
            bits.add(int(spec["pin_first_last"]))
        bits = tuple(sorted(bits))
        return cls(settings if isinstance(settings, dict) else None, bits,
                   int(spec.get("a_bits") or 8))
