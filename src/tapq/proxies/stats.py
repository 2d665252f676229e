"""LayerStats: everything a sensitivity proxy may see about one quantizable layer.

Statistics are computed once per (model, calibration batch) and then read by every proxy
of a discovery run, so they are worth computing carefully and caching: a proxy is only
as good as what it can see, and recomputing Hessian estimates per candidate would cost
more than the candidate itself.

Usage::

    stats = collect_stats_cached(model, data.calib.x[:64], data.calib.y[:64])
    stats[0].hessian_trace, stats[0].quant(4)

Everything is measured on the BatchNorm-folded model in eval mode (the model PTQ
quantizes), with the loss L = mean cross-entropy over the batch. Curvature is
per layer: the Hessian *block* of L with respect to one layer's weight.

Label-free data (y None) has no labels to take a cross-entropy against; the target is
the full-precision model itself. Curvature is then that of KL(p_FP || p) (the
Gauss-Newton / Fisher curvature), and gradient and Fisher use labels drawn from p_FP
(see `_targets`). Which statistics are computed, on how many images with how many probes,
is a `StatsConfig` (tapq.proxies.stats_config); the cache lives in tapq.proxies.stats_cache.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from tapq.device import DeviceLike, model_device, resolve_device
from tapq.errors import TapqError
from tapq.progress import track
from tapq.proxies.hessian import (
    hutchinson_traces,
    power_iteration,
    twice_differentiable_attention,
)
from tapq.proxies.stats_config import ALL_STATISTICS
from tapq.quant import find_quantizable_layers, fold_batchnorm, measure_costs
from tapq.quant.layers import QuantLayer
from tapq.quant.quantizers import (
    FULL_PRECISION,
    check_bits,
    fake_quant_weight,
    weight_scale,
)

# Per-example gradients are computed in chunks holding at most this many gradient values.
_PER_EXAMPLE_BUDGET = 2 ** 24


@dataclass(frozen=True, eq=False)
class LayerStats:
    """What a proxy may see about one quantizable layer; CPU float32, read-only.

    Attributes:
        name: qualified module name (the bit-configuration key).
        kind: ``conv``, ``depthwise`` or ``linear``.
        index: position in layer (depth) order.
        num_params: weight elements.
        macs: multiply-accumulates of this layer for one input example.
        weight: BN-folded full-precision weight, the layer's weight shape.
        grad: dL/dW at full precision on the calibration batch, weight shape.
        act_in: sampled input activations, (rows, in_features). Conv (N, C, *spatial):
            every spatial position of every example is a row of C channel values, and
            at most ``max_act_rows`` rows are drawn without replacement (kept in
            example-then-position order). Linear (N, F) or on tokens (N, T, F):
            features are the last dim and every (example, token) is a row, capped the
            same way.
        act_out: sampled output activations, (rows, out_features), built like act_in
            (rows drawn independently: strided layers have fewer output positions).
        hessian_trace: Hutchinson estimate of tr(H) for this layer's Hessian block,
            E[v^T H v] over Rademacher v (total, not per parameter).
        hessian_trace_avg: hessian_trace / num_params (HAWQ-V2's sensitivity).
        hessian_trace_se: standard error of hessian_trace over its probes (NaN with one).
        hessian_eig: largest-magnitude eigenvalue of the Hessian block, by power
            iteration.
        fisher: diagonal empirical Fisher, mean over examples of the squared
            per-example gradient of that example's loss (exact), weight shape.
        synflow: SynFlow saliency |theta * dR/dtheta| with R the summed output of the
            network with |parameters| on an all-ones input, weight shape.
    """

    name: str
    kind: str
    index: int
    num_params: int
    macs: int
    weight: torch.Tensor
    grad: torch.Tensor
    act_in: torch.Tensor
    act_out: torch.Tensor
    hessian_trace: float
    hessian_trace_avg: float
    hessian_trace_se: float
    hessian_eig: float
    fisher: torch.Tensor
    synflow: torch.Tensor
    _quant: dict = field(default_factory=dict, repr=False, compare=False)

    def quant(self, bits: int) -> torch.Tensor:
        """The de-quantized weight at `bits`: PTQ's round-to-nearest with MSE clipping.

        Cached per bit-width, because every proxy asks for the same few tables.
        """
        bits = check_bits(bits)
        if bits >= FULL_PRECISION:
            return self.weight
        if bits not in self._quant:
            scale = weight_scale(self.weight, bits, "mse")
            self._quant[bits] = fake_quant_weight(self.weight, scale, bits)
        return self._quant[bits]

    def __repr__(self) -> str:
        # The generated repr would print every tensor; the scalars identify a layer.
        return (f"LayerStats(name={self.name!r}, kind={self.kind!r}, index={self.index}, "
                f"num_params={self.num_params}, macs={self.macs}, "
                f"hessian_trace={self.hessian_trace:.4g}, hessian_eig={self.hessian_eig:.4g})")

    def __eq__(self, other: object) -> bool:
        # Value equality (the generated one would compare tensors with `==`, ambiguously).
        if not isinstance(other, LayerStats):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name))
                   for f in fields(self) if f.compare)

    def __hash__(self) -> int:
        return hash((self.name, self.index, self.num_params))


def _same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    return a == b


def _frozen(t: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous CPU float32 copy (so stats never alias the model)."""
    return t.detach().to("cpu", torch.float32, memory_format=torch.contiguous_format,
                         copy=True)


def _rows(module: nn.Module, t: torch.Tensor, limit: int,
          generator: torch.Generator) -> torch.Tensor:
    """Activation `t` as (rows, features), at most `limit` rows drawn without replacement.

    Conv (N, C, *spatial): channels last, every (example, position) is a row. Linear:
    features are the last dim, every leading index is a row.
    """
    t = t.detach()
    if not isinstance(module, nn.Linear):
        t = t.movedim(1, -1)
    t = t.reshape(-1, t.shape[-1])
    if len(t) > limit:
        keep = torch.randperm(len(t), generator=generator)[:limit].sort().values
        t = t[keep.to(t.device)]
    return t


def _fisher(model: nn.Module, names: list[str], x: torch.Tensor,
            y: torch.Tensor) -> list[torch.Tensor]:
    """Diagonal empirical Fisher: mean over examples of squared per-example gradients.

    Exact per-example gradients with torch.func (vmap over grad), in chunks that bound
    memory; models vmap cannot run fall back to a loop over single examples.
    """
    params = {n: model.get_parameter(n).detach() for n in names}

    def loss(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, p, (xi[None],))
        return nn.functional.cross_entropy(out, yi[None])

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    total = sum(p.numel() for p in params.values())
    chunk = max(1, _PER_EXAMPLE_BUDGET // max(total, 1))
    sums = {n: torch.zeros_like(p) for n, p in params.items()}
    for start in range(0, len(x), chunk):
        xs, ys = x[start:start + chunk], y[start:start + chunk]
        try:
            grads = per_example(params, xs, ys)
            for n in names:
                sums[n] += grads[n].pow(2).sum(0)
        except Exception:  # e.g. data-dependent control flow: exact but slower
            for xi, yi in zip(xs, ys):
                for n, gi in grad(loss)(params, xi, yi).items():
                    sums[n] += gi.pow(2)
    return [sums[n] / len(x) for n in names]


def _synflow(model: nn.Module, names: list[str], example: torch.Tensor) -> list[torch.Tensor]:
    """SynFlow saliency on a float64 copy with |parameters| and |buffers| (BN in eval).

    float64 keeps R finite for deep nets; if a score would still overflow float32, all
    layers are divided by one common power of two, which keeps every comparison.
    """
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    net.requires_grad_(False)
    weights = [net.get_parameter(n) for n in names]
    for w in weights:
        w.requires_grad_(True)
    out = net(torch.ones_like(example, dtype=torch.float64))
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    scores = [(w.detach() * (g if g is not None else torch.zeros_like(w))).abs()
              for w, g in zip(weights, grads)]
    peak = max(float(s.max()) for s in scores) if scores else 0.0
    limit = torch.finfo(torch.float32).max / 2 ** 20
    if peak > limit:
        scale = 2.0 ** math.ceil(math.log2(peak / limit))
        scores = [s / scale for s in scores]
    return scores


def collect_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, *, seed: int = 0,
                  hutchinson_samples: int = 16, power_iters: int = 20,
                  max_act_rows: int = 256, statistics: tuple[str, ...] = ALL_STATISTICS,
                  device: DeviceLike = None) -> list[LayerStats]:
    """LayerStats of every quantizable layer of `model` on the batch (x, y), in layer order.

    `y` None (label-free data): the loss is measured against the full-precision model
    itself (see the module docstring). Only `statistics` (names of ALL_STATISTICS) are
    computed; the others are NaN. BatchNorm is folded first (on a copy; `model` is
    untouched). Deterministic for a given `seed`, which drives the Rademacher probes,
    power-iteration starts, sampled labels and activation rows (all drawn on the CPU, so
    every device sees the same ones). Cost: `hutchinson_samples` backward passes for all
    traces together, and up to `power_iters` per layer for the eigenvalues. The work runs
    on `device` (default: where `model` is); the LayerStats are CPU float32 wherever it ran.
    """
    if any(isinstance(m, QuantLayer) for m in model.modules()):
        raise TapqError("collect statistics on the full-precision model, not a quantized one")
    unknown = set(statistics) - set(ALL_STATISTICS)
    if unknown:
        raise TapqError(f"unknown statistics {sorted(unknown)}; choose from {ALL_STATISTICS}")
    generator = torch.Generator().manual_seed(seed)
    folded, _ = fold_batchnorm(model, x[:1].to(model_device(model)))
    folded.requires_grad_(False)
    device = resolve_device(device) if device is not None else model_device(folded)
    folded.to(device)
    x = x.to(device)
    infos = find_quantizable_layers(folded, x[:1])
    if not infos:
        return []
    costs = measure_costs(folded, x[:1])
    modules = [folded.get_submodule(info.name) for info in infos]
    names = [info.name + ".weight" for info in infos]
    weights = [module.weight for module in modules]
    want = set(statistics)
    curvature = bool(want & {"hessian_trace", "hessian_eig"})
    for w in weights:
        w.requires_grad_(True)

    acts: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = [module.register_forward_hook(
        lambda m, i, o, k=k: acts.__setitem__(k, (i[0].detach(), o.detach())))
        for k, module in enumerate(modules)] if "act" in want else []
    try:
        with twice_differentiable_attention():
            logits = folded(x)
    finally:
        for handle in handles:
            handle.remove()
    rows = [(_rows(m, acts[k][0], max_act_rows, generator),
             _rows(m, acts[k][1], max_act_rows, generator))
            for k, m in enumerate(modules)] if "act" in want else None
    acts.clear()
    y, curvature_loss = _targets(logits, y, generator)
    loss = nn.functional.cross_entropy(logits, y)
    traces, errors, eigs = [math.nan] * len(infos), [math.nan] * len(infos), [math.nan] * len(infos)
    grads = None
    if curvature:
        hgrads = torch.autograd.grad(curvature_loss if curvature_loss is not None else loss,
                                     weights, create_graph=True, retain_graph=True)
        if "hessian_trace" in want:
            traces, errors, _ = hutchinson_traces(list(hgrads), weights, hutchinson_samples,
                                                  generator)
        if "hessian_eig" in want:
            eigs = [power_iteration(g, w, power_iters, generator) for g, w in
                    track(list(zip(hgrads, weights)), "statistics: Hessian eigenvalues")]
        if curvature_loss is None:
            grads = [g.detach() for g in hgrads]
        del hgrads  # frees the double-backward graph
    if grads is None and "grad" in want:
        grads = [g.detach() for g in torch.autograd.grad(loss, weights)]
    del loss, logits, curvature_loss
    for w in weights:
        w.requires_grad_(False)
    fishers = None
    if "fisher" in want:
        with twice_differentiable_attention():  # vmap has batching rules for the math kernel
            fishers = _fisher(folded, names, x, y)
    synflows = _synflow(folded, names, x[:1]) if "synflow" in want else None

    def tensor(values, k: int, shape) -> torch.Tensor:
        return _frozen(values[k]) if values is not None else torch.full(shape, math.nan)

    return [LayerStats(
        name=info.name, kind=info.kind, index=info.index, num_params=info.num_params,
        macs=costs.layers[info.name].macs, weight=_frozen(weights[k]),
        grad=tensor(grads if "grad" in want else None, k, weights[k].shape),
        act_in=_frozen(rows[k][0]) if rows else torch.empty(0, _features(modules[k], "in")),
        act_out=_frozen(rows[k][1]) if rows else torch.empty(0, _features(modules[k], "out")),
        hessian_trace=traces[k], hessian_trace_avg=traces[k] / info.num_params,
        hessian_trace_se=errors[k], hessian_eig=eigs[k],
        fisher=tensor(fishers, k, weights[k].shape), synflow=tensor(synflows, k, weights[k].shape))
        for k, info in enumerate(infos)]


def _features(module: nn.Module, side: str) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features if side == "in" else module.out_features
    return module.in_channels if side == "in" else module.out_channels


def _targets(logits: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Labels for the gradient statistics, and the loss for curvature when it differs.

    With labels: the labels, and the same cross-entropy for curvature (None). Without:
    labels drawn from the full-precision model's own softmax (seeded; an unbiased one-
    sample estimate of the KL to its outputs, up to a constant), and for curvature the
    exact KL(p_FP || p) -- whose gradient vanishes at the FP model, so gradients and
    Fisher could not be taken from it, but whose Hessian is exactly the Fisher/Gauss-
    Newton curvature that predicts how much quantization moves the outputs.
    """
    if y is not None:
        return y.to(logits.device), None
    reference = torch.log_softmax(logits.detach(), 1)
    drawn = torch.multinomial(reference.exp().cpu().double(), 1, generator=generator)[:, 0]
    kl = (reference.exp() * (reference - torch.log_softmax(logits, 1))).sum(1).mean()
    return drawn.to(logits.device), kl
