"""Statistics that need the benchmark's PTQ: its quantized weights and single-layer loss
changes.

`LayerStats.quant` is round-to-nearest, while a benchmark may measure AdaRound, whose
error on the same layer is a different tensor. So the weights PTQ itself produces --
``PTQEngine.quantized_weight`` with the benchmark's settings, calibration images and
activation bit-width, the very tensors its configurations used -- are kept per
(layer, bits) as ``ptq_weights``.

``delta_loss[b]`` is what quantizing one layer costs, measured: the loss on the
statistics batch with that layer at `b` bits and every other layer at
`background_bits` (activations at the benchmark's bit-width everywhere), minus the loss
with all layers at `background_bits`. The loss is the statistics' own (cross-entropy
with labels, KL to the full-precision model without); ``delta_kl`` is always the KL.
It costs one quantized evaluation of the batch per (layer, bits) cell, plus the PTQ
weights themselves (AdaRound: one optimisation per cell).
"""
from __future__ import annotations

from dataclasses import asdict, fields

import torch
from torch import nn

from tapq.quant import BitConfig, PTQEngine, PTQSettings
from tapq.quant.adaround import AdaRoundConfig

__all__ = ["PTQ_OPTIONS", "ptq_settings_from", "ptq_statistics"]

PTQ_OPTIONS = asdict(PTQSettings())


def ptq_settings_from(options: dict | None) -> PTQSettings:
    """PTQSettings from their dict form (a benchmark's ``ptq_settings`` meta); None or
    missing keys: the defaults."""
    values = dict(options or {})
    known = {f.name for f in fields(PTQSettings)}
    values = {k: v for k, v in values.items() if k in known}
    if isinstance(values.get("adaround"), dict):
        values["adaround"] = AdaRoundConfig(**values["adaround"])
    return PTQSettings(**values)


def _loss(logits: torch.Tensor, reference: torch.Tensor, y: torch.Tensor | None
          ) -> tuple[float, float]:
    """(statistics loss, KL(p_FP || p)) of quantized `logits` against FP `reference`."""
    log_p = torch.log_softmax(logits.double(), 1)
    log_ref = torch.log_softmax(reference.double(), 1)
    kl = float((log_ref.exp() * (log_ref - log_p)).sum(1).mean())
    if y is None:
        return kl, kl
    return float(nn.functional.nll_loss(log_p, y)), kl


def _evaluate(model: nn.Module, x: torch.Tensor, chunk: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + chunk]) for i in range(0, len(x), chunk)])


def ptq_statistics(model: nn.Module, settings: PTQSettings, calib: torch.Tensor,
                   bits: tuple[int, ...], a_bits: int, background_bits: int,
                   x: torch.Tensor, y: torch.Tensor | None, want: set[str], chunk: int,
                   device: torch.device) -> list[dict]:
    """Per layer of `model` (unfolded; the engine folds it): ``ptq``, ``ptq_weights``
    {bits: CPU tensor} and, when "delta_loss" is wanted, ``delta_loss`` / ``delta_kl``
    {bits: float} and ``background_bits``."""
    engine = PTQEngine(model, calib, settings, device)
    names = engine.layer_names
    found = [{"ptq": settings.weight_rounding, "ptq_weights": {}} for _ in names]
    if "ptq" in want or "delta_loss" in want:
        for record, name in zip(found, names):
            record["ptq_weights"] = {b: engine.quantized_weight(name, b, a_bits).detach()
                                     .to("cpu", torch.float32, copy=True)
                                     for b in bits if b < 32}
    if "delta_loss" not in want:
        return found
    x = x.to(engine.device)
    y = None if y is None else y.to(engine.device)
    reference = _evaluate(engine.fp_model, x, chunk)
    a_config = dict.fromkeys(names, a_bits)

    def measured(w_bits: dict) -> tuple[float, float]:
        return _loss(_evaluate(engine.quantize(BitConfig(w_bits, a_config)), x, chunk),
                     reference, y)

    base_loss, base_kl = measured(dict.fromkeys(names, background_bits))
    for record, name in zip(found, names):
        record["background_bits"] = background_bits
        record["delta_loss"], record["delta_kl"] = {}, {}
        for b in bits:
            loss, kl = ((base_loss, base_kl) if b == background_bits else
                        measured({**dict.fromkeys(names, background_bits), name: b}))
            record["delta_loss"][b] = loss - base_loss
            record["delta_kl"][b] = kl - base_kl
    return found
