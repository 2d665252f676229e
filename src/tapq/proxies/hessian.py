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

Both sweep the batch in chunks (tapq.proxies.stats_passes), so memory is bounded by one
chunk's graph, not by the number of images.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable

import torch

from tapq.progress import track

# Power iteration stops early once the eigenvalue moves by less than this (relative),
# PyHessian's default; the result is then stable to ~3 digits.
POWER_TOL = 1e-3

__all__ = ["POWER_TOL", "ChunkGrads", "hutchinson_traces", "power_iterations",
           "twice_differentiable_attention"]


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


# A source of per-chunk gradients with graph: called once per sweep over the batch, it
# yields each chunk's (weighted) gradients of the loss, one chunk's graph alive at a time.
ChunkGrads = Callable[[], Iterable[list[torch.Tensor]]]


def hutchinson_traces(chunk_grads: ChunkGrads, weights: list[torch.Tensor], probes: int,
                      generator: torch.Generator) -> tuple[list[float], list[float], float]:
    """Per layer, the mean of v_l^T (H v)_l over `probes` joint Rademacher probes (an
    unbiased estimate of tr(H_ll)) and its standard error (NaN with one probe); and the
    relative standard error of the summed trace, from the per-probe sums.

    The probes are drawn once, on the CPU from `generator`, probe by probe in layer order
    (so every device sees the same ones), and each is applied to every chunk: H v is the
    sum of the chunks' H_c v, and v^T H v the sum of theirs.
    """
    if probes < 1 or not weights:
        return [math.nan] * len(weights), [math.nan] * len(weights), math.nan
    vectors = [[_rademacher(w.shape, generator, w) for w in weights] for _ in range(probes)]
    samples = torch.zeros(probes, len(weights), dtype=torch.float64)
    for grads in chunk_grads():
        for p, vs in enumerate(vectors):
            hvs = torch.autograd.grad(grads, weights, grad_outputs=vs, retain_graph=True)
            samples[p] += torch.stack([(hv * v).sum().double().cpu() for hv, v in zip(hvs, vs)])
    means = samples.mean(0)
    if probes < 2:
        return means.tolist(), [math.nan] * len(weights), math.nan
    errors = samples.std(0) / math.sqrt(probes)
    totals = samples.sum(1)
    total = float(totals.mean())
    rse = float(totals.std()) / math.sqrt(probes) / abs(total) if total else math.nan
    return means.tolist(), errors.tolist(), rse


def power_iterations(chunk_grads: ChunkGrads, weights: list[torch.Tensor], iters: int,
                     generator: torch.Generator) -> list[float]:
    """Per layer, the largest-magnitude eigenvalue of its Hessian block (Rayleigh
    quotient) after at most `iters` steps; a layer stops once its estimate is stable.

    All layers iterate in lockstep: each step sweeps the chunks once and takes, per
    chunk, one Hessian-vector product per layer still iterating (a block needs its own
    backward, unlike a trace). Start vectors are drawn from `generator` in layer order.
    """
    if iters < 1:
        return [math.nan] * len(weights)
    vs = []
    for w in weights:
        v = torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device)
        vs.append(v / v.norm().clamp_min(1e-12))
    eigs = [0.0] * len(weights)
    active = list(range(len(weights)))
    for _ in track(range(iters), "statistics: Hessian eigenvalues"):
        hvs = {k: torch.zeros_like(weights[k]) for k in active}
        for grads in chunk_grads():
            for k in active:
                hvs[k] += torch.autograd.grad(grads[k], weights[k], grad_outputs=vs[k],
                                              retain_graph=True)[0]
        for k in list(active):
            new, norm = float((hvs[k] * vs[k]).sum()), hvs[k].norm()
            if norm == 0:
                eigs[k] = 0.0
                active.remove(k)
                continue
            vs[k] = hvs[k] / norm
            converged = abs(new - eigs[k]) <= POWER_TOL * abs(new)
            eigs[k] = new
            if converged:
                active.remove(k)
        if not active:
            break
    return eigs
