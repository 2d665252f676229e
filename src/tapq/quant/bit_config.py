"""Bit configurations: which weight and activation bit-width each layer gets.

The JSON form is the contract of ARCHITECTURE.md:
``{"model": "mnist-cnn", "w": {"stem.0": 8, ...}, "a": {...}, "pinned": ["stem.0", "fc"]}``.
A layer absent from ``w`` (or ``a``) stays at full precision (32). Names must be layers
of the model; a name that is not raises, so a typo never silently leaves a layer in FP.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tapq.errors import TapqError
from tapq.outputs import write_text_atomic
from tapq.quant.quantizers import FULL_PRECISION, check_bits


@dataclass
class BitConfig:
    """Per-layer bit-widths.

    Attributes:
        w: layer name -> weight bits (2..8, or 32 for full precision).
        a: layer name -> bits of that layer's input activation.
        model: the model spec the configuration is for (informational).
        pinned: layers whose bits an allocator must not change (e.g. first and last).
    """

    w: dict[str, int] = field(default_factory=dict)
    a: dict[str, int] = field(default_factory=dict)
    model: str = ""
    pinned: list[str] = field(default_factory=list)

    def w_bits(self, name: str) -> int:
        """Weight bits of layer `name` (full precision if absent)."""
        return self.w.get(name, FULL_PRECISION)

    def a_bits(self, name: str) -> int:
        """Input-activation bits of layer `name` (full precision if absent)."""
        return self.a.get(name, FULL_PRECISION)

    def validate(self, layer_names: list[str]) -> "BitConfig":
        """Raise TapqError if a name is not a quantizable layer or a bit-width is invalid."""
        known = set(layer_names)
        for table in (self.w, self.a, dict.fromkeys(self.pinned, FULL_PRECISION)):
            unknown = sorted(set(table) - known)
            if unknown:
                raise TapqError(f"configuration names layer(s) not in the model: "
                                f"{', '.join(unknown[:5])}; quantizable layers are: "
                                f"{', '.join(layer_names[:8])}{' ...' if len(known) > 8 else ''}")
            for bits in table.values():
                check_bits(bits)
        return self

    def to_dict(self) -> dict:
        """The JSON-ready form."""
        return {"model": self.model, "w": dict(self.w), "a": dict(self.a),
                "pinned": list(self.pinned)}

    @classmethod
    def from_dict(cls, data: dict) -> "BitConfig":
        """Parse the JSON form; raise TapqError if it is malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("w", {}), dict) \
                or not isinstance(data.get("a", {}), dict):
            raise TapqError("a bit configuration is a JSON object with 'w' and 'a' maps")
        try:
            return cls(w={k: int(v) for k, v in data.get("w", {}).items()},
                       a={k: int(v) for k, v in data.get("a", {}).items()},
                       model=str(data.get("model", "")), pinned=list(data.get("pinned", [])))
        except (TypeError, ValueError) as error:
            raise TapqError(f"bit-widths must be integers: {error}")

    def save(self, path: str | Path) -> None:
        """Write the configuration as JSON (through a temporary file: never half-written)."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "BitConfig":
        """Read a configuration written by `save` (or by hand)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TapqError(f"configuration file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise TapqError(f"cannot read configuration {path}: {error}") from None
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise TapqError(f"configuration {path} is not valid JSON: {error}") from None


def uniform_config(layer_names: list[str], w_bits: int, a_bits: int = 8,
                   pin_first_last: int | None = None, model: str = "") -> BitConfig:
    """Every layer at `w_bits` / `a_bits`; with `pin_first_last`, the first and last layers
    are held at that many bits (weights and activations) and marked pinned."""
    check_bits(w_bits), check_bits(a_bits)
    config = BitConfig(w=dict.fromkeys(layer_names, w_bits), a=dict.fromkeys(layer_names, a_bits),
                       model=model)
    return pin_layers(config, [layer_names[0], layer_names[-1]], pin_first_last) \
        if pin_first_last is not None and layer_names else config


def pin_layers(config: BitConfig, names: list[str], bits: int) -> BitConfig:
    """Return a copy of `config` with `names` held at `bits` and marked pinned."""
    check_bits(bits)
    return BitConfig(w={**config.w, **dict.fromkeys(names, bits)},
                     a={**config.a, **dict.fromkeys(names, bits)},
                     model=config.model, pinned=list(dict.fromkeys(config.pinned + names)))
