"""Applying a saved bit configuration in one call, and saving / loading quantized models.

A quantized checkpoint holds the fake-quantized model's state dict (BN folded; each
quantized layer's de-quantized weight in ``<layer>.weight_q``), the bit configuration, and
each layer's activation quantizer, and the (layer, BatchNorm) pairs folded, so it can be rebuilt on the user's own model class
with ``load_quantized`` and used or inspected without tapq's calibration data.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tapq.data import Split
from tapq.errors import TapqError
from tapq.outputs import atomic_path
from tapq.quant.bit_config import BitConfig
from tapq.quant.bn_fold import fold_batchnorm, fold_pairs, fold_report_of
from tapq.quant.layers import QuantLayer, find_quantizable_layers, replace_module
from tapq.quant.ptq import PTQSettings, quantize

FORMAT = "tapq-fakequant-v1"


def apply_bit_config(model: nn.Module, config: BitConfig | str | Path,
                     calib: Split | torch.Tensor, settings: PTQSettings | None = None
                     ) -> nn.Module:
    """PTQ `model` under `config` (a BitConfig or the path of its JSON), calibrated on `calib`."""
    if not isinstance(config, BitConfig):
        config = BitConfig.load(config)
    return quantize(model, config, calib, settings)


def save_quantized(quantized: nn.Module, config: BitConfig, path: str | Path) -> None:
    """Save a model returned by PTQ (or QAT) with its configuration embedded."""
    act = {name: {"a_scale": m.a_scale, "a_zero_point": m.a_zero_point,
                  "w_bits": m.w_bits, "a_bits": m.a_bits}
           for name, m in quantized.named_modules() if isinstance(m, QuantLayer)}
    with atomic_path(path) as partial:  # never half a checkpoint at `path`
        torch.save({"format": FORMAT, "bit_config": config.to_dict(), "quant_layers": act,
                    "folded_batchnorm": _folded_pairs(quantized),
                    "state_dict": quantized.state_dict()}, partial)


def _folded_pairs(quantized: nn.Module) -> list[list[str]] | None:
    """The (layer, BatchNorm) pairs the model was folded with, when PTQ recorded them."""
    report = fold_report_of(quantized)
    return None if report is None else [list(pair) for pair in report.pairs]


def load_quantized(path: str | Path, model: nn.Module) -> tuple[nn.Module, BitConfig]:
    """Rebuild a quantized model saved by ``save_quantized`` on a fresh `model` of the same
    class; returns the quantized model and its bit configuration."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TapqError(f"quantized model file not found: {path}")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise TapqError(f"{path} is not a tapq quantized model ({FORMAT})")
    pairs = checkpoint.get("folded_batchnorm")
    # Fold exactly as the saved model was folded; older checkpoints did not say how.
    folded = fold_pairs(model, pairs) if pairs is not None else fold_batchnorm(model)[0]
    known = {info.name for info in find_quantizable_layers(folded)}
    for name, params in checkpoint["quant_layers"].items():
        if name not in known:
            raise TapqError(f"{path} quantizes layer {name!r}, which this model does not have")
        layer = folded.get_submodule(name)
        replace_module(folded, name, QuantLayer(layer, torch.empty_like(layer.weight),
                                                params["w_bits"], params["a_bits"],
                                                params["a_scale"], params["a_zero_point"],
                                                name=name))
    try:
        folded.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise TapqError(f"{path} does not fit this model: {str(error).splitlines()[0]}")
    return folded.eval(), BitConfig.from_dict(checkpoint["bit_config"])
