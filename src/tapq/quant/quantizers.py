"""Uniform fake quantization: the pure math, shared by PTQ, proxies and allocation.

Conventions (the deployed-integer-kernel ones):
- weights: symmetric, per output channel, signed narrow range [-(2^(b-1)-1), 2^(b-1)-1]
  (so 2 bits is ternary), zero point 0;
- activations: asymmetric, per tensor, unsigned [0, 2^b - 1] with an integer zero point;
- ``FULL_PRECISION`` (32) means "not quantized".
The rounding itself is PyTorch's fused ``fake_quantize_*`` kernels: fast on CPU and GPU,
and they pass gradients straight through, which quantization-aware training needs.
"""
from __future__ import annotations

import torch

FULL_PRECISION = 32
MIN_BITS, MAX_BITS = 2, 8
# Clipping ratios tried by the MSE search, as fractions of the observed range.
_CLIP_RATIOS = torch.linspace(0.05, 1.0, 96)


def check_bits(bits: int) -> int:
    """Return `bits` if it is a supported bit-width (2..8 or FULL_PRECISION), else raise."""
    from tapq.errors import TapqError

    if bits != FULL_PRECISION and not MIN_BITS <= bits <= MAX_BITS:
        raise TapqError(f"bit-width {bits} is not supported: use {MIN_BITS}..{MAX_BITS} "
                        f"or {FULL_PRECISION} for full precision")
    return int(bits)


def weight_qmax(bits: int) -> int:
    """Largest integer level of a signed narrow-range weight quantizer."""
    return 2 ** (bits - 1) - 1


def fake_quant_weight(weight: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """De-quantized weight: per-output-channel symmetric rounding with `scale` of shape (C,)."""
    if bits >= FULL_PRECISION:
        return weight
    qmax = weight_qmax(bits)
    zero = torch.zeros(scale.shape, dtype=torch.int32, device=scale.device)
    return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -qmax, qmax)


def weight_scale(weight: torch.Tensor, bits: int, clipping: str = "mse") -> torch.Tensor:
    """Per-output-channel scale (C,) for `weight` at `bits`.

    ``minmax`` maps each channel's largest |w| to the top level; ``mse`` searches, per
    channel, the clipping value that minimises the squared rounding + clipping error,
    which matters most at 2-4 bits where outliers would waste the few levels.
    """
    absmax = weight.detach().flatten(1).abs().amax(1).clamp_min(1e-8)
    qmax = weight_qmax(bits)
    if clipping == "minmax":
        return absmax / qmax
    if clipping != "mse":
        raise ValueError(f"unknown weight clipping {clipping!r}")
    w = weight.detach().flatten(1)                                   # (C, K)
    scales = absmax[None, :] * _CLIP_RATIOS.to(w.device)[:, None] / qmax  # (R, C)
    q = torch.clamp(torch.round(w[None] / scales[..., None]), -qmax, qmax) * scales[..., None]
    errors = (q - w[None]).pow(2).sum(-1)                            # (R, C)
    return scales.gather(0, errors.argmin(0, keepdim=True))[0]


def act_qparams(low: float, high: float, bits: int) -> tuple[float, int]:
    """Scale and integer zero point mapping [low, high] (widened to hold 0) onto [0, 2^b-1]."""
    low, high = min(low, 0.0), max(high, 0.0)
    levels = 2 ** bits - 1
    scale = max((high - low) / levels, 1e-8)
    zero_point = int(min(max(round(-low / scale), 0), levels))
    return scale, zero_point


# How inference fake-quantizes activations, per device type (any other device: "fused").
# Both round half to even. On the CPU the in-place ops measured ~5x faster than the fused
# op, which also builds a gradient mask nobody reads; on a GPU each in-place op is a
# kernel with a full read and write of the tensor, the fused op one kernel for all.
# benchmarks/gpu_throughput.py measures both; change an entry to compare them.
ACT_INFERENCE_IMPL = {"cpu": "inplace"}


def act_inference_impl(device: torch.device) -> str:
    """``inplace`` or ``fused``: what `fake_quant_act` runs at inference on `device`."""
    return ACT_INFERENCE_IMPL.get(device.type, "fused")


def fake_quant_act(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> torch.Tensor:
    """De-quantized activation: per-tensor asymmetric rounding."""
    if bits >= FULL_PRECISION:
        return x
    if x.requires_grad or act_inference_impl(x.device) == "fused":
        # Training needs the fused op: it passes gradients straight through.
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, 0, 2 ** bits - 1)
    y = torch.mul(x, 1.0 / scale)
    return y.round_().add_(zero_point).clamp_(0, 2 ** bits - 1).sub_(zero_point).mul_(scale)


def act_range(samples: torch.Tensor, bits: int, method: str = "mse",
              percentile: float = 99.99) -> tuple[float, float]:
    """Clipping range [low, high] for activations from calibration `samples` (1-D).

    ``minmax`` keeps every value; ``percentile`` clips both tails at `percentile`;
    ``mse`` shrinks the observed range by each ratio in the search grid and keeps the one
    with the least squared error after quantization.
    """
    low, high = samples.min().item(), samples.max().item()
    if method == "minmax":
        return low, high
    if method == "percentile":
        quantiles = torch.tensor([1 - percentile / 100, percentile / 100],
                                 device=samples.device)
        low_p, high_p = torch.quantile(samples.float(), quantiles).tolist()
        return (low_p if low < 0 else low), high_p
    if method != "mse":
        raise ValueError(f"unknown activation clipping {method!r}")
    best, best_error = (low, high), float("inf")
    for ratio in _CLIP_RATIOS[_CLIP_RATIOS >= 0.2].tolist():
        scale, zero = act_qparams(low * ratio, high * ratio, bits)
        error = (fake_quant_act(samples, scale, zero, bits) - samples).pow(2).mean().item()
        if error < best_error:
            best, best_error = (low * ratio, high * ratio), error
    return best
