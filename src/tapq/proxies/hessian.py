"""Curvature of the loss per layer: Hutchinson traces and power-iteration eigenvalues.

Both work from the gradients of the loss taken with ``create_graph=True``; each
Hessian-vector product is then one more backward pass through that graph.

Traces are probed for all layers at once: one Rademacher vector per layer, one backward
for all of them per probe (``autograd.grad`` of every layer's gradient against every
weight), then each layer reads its own block, v_l^T (H v)_l. The cross-layer terms
v_l^T H_lm v_m have mean zero (independent probes), so the estimate of each tr(H_ll)
stays unbiased; they add variance, which the reported standard error includes. Probing
one layer at a time costs a backward per layer per probe -- on a 50-layer ImageNet
network ~25x more for the same number of probes -- so for a fixed time the joint probe
buys many more probes than the variance it adds (BENCHMARKS.md has the measurement).

An eigenvalue has no such shortcut (power iteration needs the block alone), so it
stays one backward per layer per iteration, and is the statistic to leave out on a
large model when time is short.
"""
from __future__ import annotations

import contextlib
import math

import torch

# Power iteration stops early once the eigenvalue moves by less than this (relative),
# PyHessian's default; the result is then stable to ~3 digits.
POWER_TOL = 1e-3

__all__ = ["POWER_TOL", "hutchinson_traces", "power_iteration", "twice_differentiable_attention"]


def twice_differentiable_attention():
    """Run scaled-dot-product attention with its plain math kernel.

    The fused kernels (flash, memory-efficient), which nn.MultiheadAttention and
    ``F.scaled_dot_product_attention`` pick by default, have no double backward, and
    every Hessian probe is one; nor have they vmap rules (per-example Fisher).
    """
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3 has no backend switch of this form
        return contextlib.nullcontext()
    return sdpa_kernel(SDPBackend.MATH)


def _rademacher(shape: torch.Size, generator: torch.Generator, like: torch.Tensor
                ) -> torch.Tensor:
    v = torch.randint(0, 2, shape, generator=generator, dtype=like.dtype).mul_(2).sub_(1)
    return v.to(like.device)


def hutchinson_traces(grads: list[torch.Tensor], weights: list[torch.Tensor], probes: int,
                      generator: torch.Generator) -> tuple[list[float], list[float], float]:
    """Per layer, the mean of v_l^T (H v)_l over `probes` joint Rademacher probes (an
    unbiased estimate of tr(H_ll)) and its standard error (NaN with one probe); and the
    relative standard error of the summed trace, from the per-probe sums.

    `grads` are the layers' loss gradients with a graph (create_graph=True) and
    `weights` the tensors they were taken against; probes are drawn on the CPU from
    `generator` in layer order, so every device sees the same ones.
    """
    if probes < 1 or not weights:
        return [math.nan] * len(weights), [math.nan] * len(weights), math.nan
    samples = torch.zeros(probes, len(weights), dtype=torch.float64)
    for p in range(probes):
        vs = [_rademacher(w.shape, generator, w) for w in weights]
        hvs = torch.autograd.grad(grads, weights, grad_outputs=vs, retain_graph=True)
        samples[p] = torch.stack([(hv * v).sum().double().cpu() for hv, v in zip(hvs, vs)])
    means = samples.mean(0)
    if probes < 2:
        return means.tolist(), [math.nan] * len(weights), math.nan
    errors = samples.std(0) / math.sqrt(probes)
    totals = samples.sum(1)
    total = float(totals.mean())
    rse = float(totals.std()) / math.sqrt(probes) / abs(total) if total else math.nan
    return means.tolist(), errors.tolist(), rse


def power_iteration(g: torch.Tensor, w: torch.Tensor, iters: int,
                    generator: torch.Generator) -> float:
    """Largest-magnitude eigenvalue of one layer's Hessian block (Rayleigh quotient)
    after at most `iters` steps, from that layer's create_graph gradient `g`."""
    if iters < 1:
        return math.nan
    v = torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device)
    v /= v.norm().clamp_min(1e-12)
    eig = 0.0
    for _ in range(iters):
        hv = torch.autograd.grad(g, w, grad_outputs=v, retain_graph=True)[0]
        new = float((hv * v).sum())
        norm = hv.norm()
        if norm == 0:
            return 0.0
        v = hv / norm
        converged = abs(new - eig) <= POWER_TOL * abs(new)
        eig = new
        if converged:
            break
    return eig
