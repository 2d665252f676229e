"""Post-training quantization (PTQ) of any model under any bit configuration.

``PTQEngine`` is built once per model and calibration set and then quantizes any number
of configurations. It folds BatchNorm, records calibration activations once, and caches
every per-layer result -- weight quantization per (layer, weight bits) and activation
ranges per (layer, activation bits) -- because in both methods those results depend
only on that layer and its bit-widths. A ground-truth benchmark of thousands of
configurations therefore pays for each (layer, bits) pair once, and a configuration
costs a model copy plus its evaluation.

Methods:
- ``rtn``: round-to-nearest with a per-channel MSE-optimal clipping search;
- ``adaround``: AdaRound learned rounding on the same clipping (see adaround.py).
Activation ranges: ``minmax``, ``percentile`` or ``mse`` search on calibration data.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from tapq.data import Split
from tapq.device import DeviceLike, model_device, resolve_device
from tapq.errors import TapqError
from tapq.quant.adaround import AdaRoundConfig, adaround_weight
from tapq.quant.bit_config import BitConfig
from tapq.quant.bn_fold import fold_batchnorm
from tapq.quant.layers import (QuantLayer, find_quantizable_layers, layer_forward, layer_input,
                               replace_module)
from tapq.quant.quantizers import (FULL_PRECISION, act_qparams, act_range, fake_quant_act,
                                   fake_quant_weight, weight_scale)

WEIGHT_ROUNDINGS = ("rtn", "adaround")
ACT_CLIPPINGS = ("minmax", "percentile", "mse")


@dataclass(frozen=True)
class PTQSettings:
    """How PTQ quantizes.

    Attributes:
        weight_rounding: ``rtn`` (round to nearest) or ``adaround`` (learned rounding).
        weight_clipping: ``mse`` (per-channel clipping search) or ``minmax``.
        act_clipping: ``mse``, ``percentile`` or ``minmax`` activation range.
        act_percentile: percentile used by ``percentile`` clipping.
        calib_size: calibration examples drawn from the calibration split.
        calib_seed: which examples are drawn; a second seed measures PTQ noise.
        act_samples: activation values kept per layer for the range search.
        adaround: settings of the AdaRound optimisation.
    """

    weight_rounding: str = "rtn"
    weight_clipping: str = "mse"
    act_clipping: str = "mse"
    act_percentile: float = 99.99
    calib_size: int = 256
    calib_seed: int = 0
    act_samples: int = 2 ** 18
    adaround: AdaRoundConfig = field(default_factory=AdaRoundConfig)

    def __post_init__(self) -> None:
        if self.weight_rounding not in WEIGHT_ROUNDINGS:
            raise TapqError(f"unknown PTQ method {self.weight_rounding!r}; "
                            f"choose from {', '.join(WEIGHT_ROUNDINGS)}")
        if self.act_clipping not in ACT_CLIPPINGS:
            raise TapqError(f"unknown activation clipping {self.act_clipping!r}; "
                            f"choose from {', '.join(ACT_CLIPPINGS)}")


class PTQEngine:
    """Quantizes one model, calibrated on one set, under many configurations."""

    def __init__(self, model: nn.Module, calib: Split | torch.Tensor,
                 settings: PTQSettings | None = None,
                 device: DeviceLike = None) -> None:
        """`device` (default CPU) is where calibration, AdaRound and the quantized copies
        run; `model` itself stays where it is."""
        self.settings = settings or PTQSettings()
        self.device = resolve_device(device)
        calib_x = calib if isinstance(calib, torch.Tensor) else calib.x
        generator = torch.Generator().manual_seed(self.settings.calib_seed)
        if len(calib_x) > self.settings.calib_size:
            index = torch.randperm(len(calib_x), generator=generator)[:self.settings.calib_size]
            calib_x = calib_x[index]
        # The calibration sample is small (calib_size examples): it lives on the device.
        self.calib_x = calib_x = calib_x.to(self.device)
        self.fp_model, self.fold_report = fold_batchnorm(model,
                                                          calib_x[:1].to(model_device(model)))
        self.fp_model.to(self.device)
        self.fp_model.requires_grad_(False)
        self.layers = find_quantizable_layers(self.fp_model, calib_x[:1])
        self.layer_names = [info.name for info in self.layers]
        self._act_samples = self._sample_activations(generator)
        self._weights: dict[tuple[str, int, int], torch.Tensor] = {}
        self._act_params: dict[tuple[str, int], tuple[float, int]] = {}

    def _sample_activations(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One calibration pass recording, per layer, a random sample of its input values
        plus the exact extremes (so min-max ranges are exact)."""
        samples: dict[str, torch.Tensor] = {}
        limit = self.settings.act_samples

        def record(name: str, x: torch.Tensor) -> None:
            flat = x.detach().flatten()
            if flat.numel() > limit:
                keep = torch.randint(0, flat.numel(), (limit,), generator=generator)
                keep = keep.to(flat.device)  # drawn on the CPU: the same sample anywhere
                flat = torch.cat([flat[keep], flat.min()[None], flat.max()[None]])
            samples[name] = flat.clone()

        handles = [self.fp_model.get_submodule(name).register_forward_pre_hook(
            lambda m, inputs, name=name: record(name, layer_input(name, inputs)))
            for name in self.layer_names]
        try:
            with torch.no_grad():
                self.fp_model(self.calib_x)
        finally:
            for handle in handles:
                handle.remove()
        return samples

    def act_params(self, name: str, bits: int) -> tuple[float, int]:
        """Scale and zero point of layer `name`'s input at `bits` (cached)."""
        key = (name, bits)
        if key not in self._act_params:
            low, high = act_range(self._act_samples[name], bits, self.settings.act_clipping,
                                  self.settings.act_percentile)
            self._act_params[key] = act_qparams(low, high, bits)
        return self._act_params[key]

    def quantized_weight(self, name: str, w_bits: int, a_bits: int) -> torch.Tensor:
        """De-quantized weight of layer `name` at `w_bits` (cached).

        `a_bits` matters only to AdaRound, whose reconstruction sees quantized inputs.
        """
        layer = self.fp_model.get_submodule(name)
        if w_bits >= FULL_PRECISION:
            return layer.weight.detach()
        adaround = self.settings.weight_rounding == "adaround"
        key = (name, w_bits, a_bits if adaround else FULL_PRECISION)
        if key not in self._weights:
            weight = layer.weight.detach()
            scale = weight_scale(weight, w_bits, self.settings.weight_clipping)
            if adaround:
                inputs, targets = self._layer_io(name, a_bits)
                self._weights[key] = adaround_weight(layer, weight, scale, w_bits, inputs,
                                                     targets, self.settings.adaround,
                                                     seed=self.settings.calib_seed)
            else:
                self._weights[key] = fake_quant_weight(weight, scale, w_bits)
        return self._weights[key]

    def _layer_io(self, name: str, a_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Full-precision inputs (then activation-quantized) and outputs of one layer."""
        layer = self.fp_model.get_submodule(name)
        captured: list[torch.Tensor] = []
        handle = layer.register_forward_pre_hook(
            lambda m, inputs: captured.append(layer_input(name, inputs)))
        try:
            with torch.no_grad():
                self.fp_model(self.calib_x)
        finally:
            handle.remove()
        inputs = captured[0]
        with torch.no_grad():
            targets = layer_forward(layer, inputs, layer.weight)
        if a_bits < FULL_PRECISION:
            inputs = fake_quant_act(inputs, *self.act_params(name, a_bits), a_bits)
        return inputs, targets

    def quantize(self, config: BitConfig) -> nn.Module:
        """A fake-quantized copy of the model under `config` (the engine is unchanged)."""
        config.validate(self.layer_names)
        model = copy.deepcopy(self.fp_model)
        for name in self.layer_names:
            w_bits, a_bits = config.w_bits(name), config.a_bits(name)
            if w_bits >= FULL_PRECISION and a_bits >= FULL_PRECISION:
                continue
            scale, zero_point = (self.act_params(name, a_bits) if a_bits < FULL_PRECISION
                                 else (1.0, 0))
            replace_module(model, name, QuantLayer(
                model.get_submodule(name), self.quantized_weight(name, w_bits, a_bits),
                w_bits, a_bits, scale, zero_point, name=name))
        return model


def quantize(model: nn.Module, config: BitConfig, calib: Split | torch.Tensor,
             settings: PTQSettings | None = None,
             device: DeviceLike = None) -> nn.Module:
    """Post-training quantize `model` under `config`, calibrated on `calib`, on `device`
    (default CPU; the quantized model is returned there).

    One-shot convenience over ``PTQEngine``; build an engine to quantize many
    configurations of the same model.
    """
    return PTQEngine(model, calib, settings, device).quantize(config)
