"""The human baseline proxies: what a discovered proxy has to beat.

Each is a plain ``sensitivity(layer, bits) -> float``: how much accuracy the network
loses when this layer's weights are quantized to `bits`; higher means more sensitive.
A configuration c scores S(c) = sum over layers of sensitivity(layer, c[layer]) and
fitness correlates -S(c) with measured accuracy, so every proxy here falls (or stays
level) as bits rise, and is smallest at full precision.

Most follow one pattern from the literature: an importance of the layer (curvature,
Fisher information, saliency, feature orthogonality) times the perturbation the
quantizer actually causes, W - Q_b(W), computed with the same quantizer PTQ uses
(``LayerStats.quant``). At 32 bits that perturbation is exactly zero, so every division
is guarded by a small epsilon to keep the values finite.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch

from tapq.proxies.stats import LayerStats

Proxy = Callable[[LayerStats, int], float]
# Relative guard for divisions by a weight norm or a vanishing quantization error.
_EPS = 1e-12
# OMPQ's beta (its argparse default): how sharply redundancy lowers a layer's importance.
OMPQ_BETA = 1.0


def _perturbation(layer: LayerStats, bits: int) -> torch.Tensor:
    """W - Q_b(W) in float64 (sums over many small squares lose digits in float32)."""
    return (layer.weight.double() - layer.quant(bits).double())


def _sq_error(layer: LayerStats, bits: int) -> float:
    """||W - Q_b(W)||^2."""
    return float(_perturbation(layer, bits).pow(2).sum())


def _weight_energy(layer: LayerStats) -> float:
    """||W||^2."""
    return float(layer.weight.double().pow(2).sum())


def _relative_error(layer: LayerStats, bits: int) -> float:
    """||W - Q_b(W)||^2 / ||W||^2, the quantizer's noise-to-signal ratio."""
    energy = _weight_energy(layer)
    return _sq_error(layer, bits) / (energy + _EPS * energy + 1e-30)


def hawq_v1(layer: LayerStats, bits: int) -> float:
    """HAWQ (Dong et al., ICCV 2019): |lambda_max(H)| * ||W - Q_b(W)||^2.

    The top Hessian eigenvalue bounds the curvature along the quantization perturbation
    (second-order Taylor expansion of the loss). Its magnitude is used: at a trained
    minimum the curvature is positive, and a negative estimate is sampling noise.
    """
    return abs(layer.hessian_eig) * _sq_error(layer, bits)


def hawq_v2(layer: LayerStats, bits: int) -> float:
    """HAWQ-V2 (Dong et al., NeurIPS 2020): |Tr(H)/n| * ||W - Q_b(W)||^2.

    The average Hessian trace (``hessian_trace_avg``) replaces the top eigenvalue: it
    weighs every direction, not only the sharpest one. Magnitude as in ``hawq_v1``.
    """
    return abs(layer.hessian_trace_avg) * _sq_error(layer, bits)


def _feature_redundancy(layer: LayerStats) -> float:
    """Mean squared correlation between distinct output channels, in [0, 1].

    0 when the layer's output features are orthogonal (each carries its own
    information), 1 when they are all copies of each other. Dead channels (constant
    over the sample) carry nothing and are left out.
    """
    acts = layer.act_out.double()
    acts = acts - acts.mean(0, keepdim=True)
    if acts.shape[1] < 2:
        return 0.0
    norms = acts.norm(dim=0)
    live = norms > _EPS * float(norms.max()) + 1e-30
    acts, norms = acts[:, live], norms[live]
    count = acts.shape[1]
    if count < 2:
        return 0.0
    corr = (acts / norms).T @ (acts / norms)
    off_diagonal = float(corr.pow(2).sum() - corr.diagonal().pow(2).sum())
    return min(max(off_diagonal / (count * (count - 1)), 0.0), 1.0)


def ompq(layer: LayerStats, bits: int) -> float:
    """OMPQ (Ma et al., AAAI 2023), per layer: exp(-beta * r) * ||W - Q_b||^2 / ||W||^2.

    OMPQ rates a layer by how orthogonal its output features are: theta =
    exp(-beta * gamma), gamma being the summed orthogonality metric (CKA-like kernel
    alignment) between this layer's features and every other layer's. A proxy sees one
    layer only, so gamma becomes r, the mean squared correlation between this layer's
    own output channels (``act_out`` columns): redundant features -> less important.
    OMPQ then maximises sum(theta * bits), which is linear in bits; here the bits enter
    through the noise they leave, the relative quantization error (the measured form of
    the 4^-b noise model), so the score is a sensitivity that is exactly 0 at 32 bits
    and reflects clipping and the ternary 2-bit grid, not an idealised rate.
    """
    theta = math.exp(-OMPQ_BETA * _feature_redundancy(layer))
    return theta * _relative_error(layer, bits)


def fisher(layer: LayerStats, bits: int) -> float:
    """Fisher-weighted perturbation: sum(F * (W - Q_b(W))^2).

    The diagonal empirical Fisher approximates the Hessian in the second-order loss
    change (as in Fisher pruning, Liu et al. ICML 2021, and BRECQ's Fisher-weighted
    reconstruction, Li et al. ICLR 2021), element by element.
    """
    return float((layer.fisher.double() * _perturbation(layer, bits).pow(2)).sum())


def snip(layer: LayerStats, bits: int) -> float:
    """SNIP (Lee et al., ICLR 2019) for quantization: sum(|g * (W - Q_b(W))|).

    SNIP's saliency |g * W| is the first-order loss change when a weight is removed,
    i.e. perturbed by -W. Quantization perturbs it by Q_b(W) - W instead, so the same
    first-order term uses that perturbation; absolute values per element, as in SNIP,
    so that errors of opposite sign do not cancel.
    """
    return float((layer.grad.double() * _perturbation(layer, bits)).abs().sum())


def synflow(layer: LayerStats, bits: int) -> float:
    """SynFlow (Tanaka et al., NeurIPS 2020): sum(|theta * dR/dtheta|) * ||W - Q_b||^2/||W||^2.

    SynFlow's data-free saliency says how much of the network's signal flows through
    this layer; the relative quantization error says how much of that signal the
    quantizer corrupts.
    """
    return float(layer.synflow.double().sum()) * _relative_error(layer, bits)


def quant_mse(layer: LayerStats, bits: int) -> float:
    """Mean squared weight quantization error ||W - Q_b(W)||^2 / n (no data, no curvature)."""
    return _sq_error(layer, bits) / layer.num_params


def sqnr(layer: LayerStats, bits: int) -> float:
    """Negative weight SQNR in dB: -10 log10(||W||^2 / ||W - Q_b(W)||^2).

    Negated so that higher means more sensitive. At 32 bits the error is 0 and the
    epsilon caps the SQNR at 120 dB.
    """
    energy = _weight_energy(layer)
    return -10.0 * math.log10((energy + 1e-30) / (_sq_error(layer, bits) + _EPS * energy + 1e-30))


def size(layer: LayerStats, bits: int) -> float:
    """The size proxy: -num_params * bits.

    "More bits is better" and nothing else. Fitness correlates -S(c) with accuracy, so
    a bigger configuration must get a lower S: hence the minus sign. Every proxy must
    beat this one within a size band, where it carries no information.
    """
    return -float(layer.num_params * bits)


BASELINE_PROXIES: dict[str, Proxy] = {
    "hawq_v1": hawq_v1,
    "hawq_v2": hawq_v2,
    "ompq": ompq,
    "fisher": fisher,
    "snip": snip,
    "synflow": synflow,
    "quant_mse": quant_mse,
    "sqnr": sqnr,
    "size": size,
}


def proxy_table(stats: list[LayerStats], proxy: Proxy, bits: Sequence[int]) -> np.ndarray:
    """The table T[layer, j] = proxy(layer, bits[j]), shape (layers, len(bits)), float64.

    Raises ValueError naming the layer and bit-width where the proxy returns something
    that is not a finite real number (a 0-d tensor or array is accepted).
    """
    table = np.empty((len(stats), len(bits)), dtype=np.float64)
    for i, layer in enumerate(stats):
        for j, b in enumerate(bits):
            table[i, j] = _finite(proxy(layer, b), proxy, layer, b)
    return table


def _finite(value: object, proxy: Proxy, layer: LayerStats, bits: int) -> float:
    where = f"proxy {getattr(proxy, '__name__', proxy)!s} on layer {layer.name!r} at {bits} bits"
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where} returned {type(value).__name__}, not a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where} returned {value}, not a finite number")
    return value
