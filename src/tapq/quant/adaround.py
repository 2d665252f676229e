"""AdaRound: learned weight rounding by layer-wise output reconstruction.

Nagel et al., "Up or Down? Adaptive Rounding for Post-Training Quantization", ICML 2020.
Each weight is rounded down or up (not to nearest): a continuous variable V per weight
chooses through a rectified sigmoid h(V) in [0, 1], trained to minimise the layer's
output error on calibration inputs plus a regulariser that anneals h towards 0 or 1:

    min_V  || W x - s * clip(floor(W / s) + h(V)) x ||^2  +  lambda * sum(1 - |2h(V) - 1|^beta)

The reconstruction uses the layer's full-precision inputs (activation-quantized at the
layer's own input bit-width) and full-precision outputs. Unlike the sequential variant,
the result then depends only on (layer, weight bits, activation bits), so one
optimisation serves every configuration a benchmark measures.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tapq.quant.layers import layer_forward
from tapq.quant.quantizers import weight_qmax

_ZETA, _GAMMA = 1.1, -0.1  # stretch of the rectified sigmoid, from the paper


@dataclass(frozen=True)
class AdaRoundConfig:
    """Settings of the rounding optimisation.

    Attributes:
        iters: Adam steps per layer.
        batch_size: calibration examples per step.
        lr: Adam learning rate for V.
        reg_weight: lambda, weight of the rounding regulariser.
        beta_start, beta_end: annealing range of the regulariser's exponent.
        warmup: share of steps with no regulariser (pure reconstruction).
    """

    iters: int = 500
    batch_size: int = 32
    lr: float = 1e-2
    reg_weight: float = 0.01
    beta_start: float = 20.0
    beta_end: float = 2.0
    warmup: float = 0.2


def _soft_rounding(v: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.sigmoid(v) * (_ZETA - _GAMMA) + _GAMMA, 0.0, 1.0)


def adaround_weight(module: nn.Module, weight: torch.Tensor, scale: torch.Tensor, bits: int,
                    inputs: torch.Tensor, targets: torch.Tensor, config: AdaRoundConfig,
                    seed: int = 0) -> torch.Tensor:
    """Return `module`'s de-quantized weight at `bits` with learned rounding.

    `scale` is the per-output-channel scale (the clipping is chosen beforehand);
    `inputs` are the layer's (activation-quantized) calibration inputs and `targets` its
    full-precision outputs on them.
    """
    qmax = weight_qmax(bits)
    channel_dim = -1 if isinstance(module, nn.Linear) else 1  # Linear: features last
    view = (-1,) + (1,) * (weight.dim() - 1)
    s = scale.view(view)
    w_floor = torch.floor(weight / s)
    fraction = (weight / s - w_floor).clamp(0.01, 0.99)
    # Start at h(V) = fractional part, i.e. at the unrounded weight.
    v = nn.Parameter(-torch.log((_ZETA - _GAMMA) / (fraction - _GAMMA) - 1))
    optimizer = torch.optim.Adam([v], lr=config.lr)
    generator = torch.Generator().manual_seed(seed)
    warmup_steps = int(config.warmup * config.iters)
    with torch.enable_grad():
        for step in range(config.iters):
            index = torch.randint(0, len(inputs), (min(config.batch_size, len(inputs)),),
                                  generator=generator).to(inputs.device)
            w_soft = s * torch.clamp(w_floor + _soft_rounding(v), -qmax, qmax)
            error = layer_forward(module, inputs[index], w_soft) - targets[index]
            # Summed over output channels, as in BRECQ, averaged over examples and
            # positions (pixels, or tokens for a Linear on (batch, tokens, features)).
            loss = error.pow(2).sum(channel_dim).mean()
            if step >= warmup_steps:
                progress = (step - warmup_steps) / max(config.iters - warmup_steps, 1)
                beta = config.beta_start + (config.beta_end - config.beta_start) * progress
                h = _soft_rounding(v)
                loss = loss + config.reg_weight * (1 - (2 * h - 1).abs().pow(beta)).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return (s * torch.clamp(w_floor + (v.detach() >= 0).float(), -qmax, qmax)).detach()
