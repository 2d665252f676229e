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
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from tapq.cache import cache_dir
from tapq.device import DeviceLike, model_device, resolve_device
from tapq.errors import TapqError
from tapq.progress import track
from tapq.proxies.degenerate import warn_degenerate
from tapq.models.identity import model_digest, update_digest
from tapq.quant import fold_batchnorm, find_quantizable_layers, measure_costs
from tapq.quant.layers import QuantLayer
from tapq.quant.quantizers import FULL_PRECISION, check_bits, fake_quant_weight, weight_scale

# Bump when what collect_stats computes changes, so stale cache files are not reused.
STATS_VERSION = 1
# Power iteration stops early once the eigenvalue moves by less than this (relative),
# PyHessian's default; the result is then stable to ~3 digits.
POWER_TOL = 1e-3
# Per-example gradients are computed in chunks holding at most this many gradient values.
_PER_EXAMPLE_BUDGET = 2 ** 24
_MEMORY_ENTRIES = 8


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


def _twice_differentiable_attention():
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


def _hvp(g: torch.Tensor, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """H v for one layer's Hessian block, from that layer's create_graph gradient."""
    return torch.autograd.grad(g, w, grad_outputs=v, retain_graph=True)[0]


def _hutchinson(g: torch.Tensor, w: torch.Tensor, samples: int,
                generator: torch.Generator) -> float:
    """Mean of v^T H v over Rademacher v: an unbiased estimate of tr(H).

    Probed per layer, not with one whole-network v: the cross-layer terms of a joint
    probe average out only slowly (measured: errors up to 80% at 16 samples).
    """
    total = 0.0
    for _ in range(samples):
        v = torch.randint(0, 2, w.shape, generator=generator, dtype=w.dtype).mul_(2).sub_(1)
        v = v.to(w.device)
        total += float((_hvp(g, w, v) * v).sum())
    return total / max(samples, 1)


def _power_iteration(g: torch.Tensor, w: torch.Tensor, iters: int,
                     generator: torch.Generator) -> float:
    """Largest-magnitude eigenvalue (Rayleigh quotient) after at most `iters` steps."""
    v = torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device)
    v /= v.norm().clamp_min(1e-12)
    eig = 0.0
    for _ in range(iters):
        hv = _hvp(g, w, v)
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


def collect_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
                  hutchinson_samples: int = 16, power_iters: int = 20,
                  max_act_rows: int = 256,
                  device: DeviceLike = None) -> list[LayerStats]:
    """LayerStats of every quantizable layer of `model` on the batch (x, y), in layer order.

    BatchNorm is folded first (on a copy; `model` is untouched). Deterministic for a
    given `seed`, which drives the Rademacher probes, power-iteration starts and
    activation row sampling (all drawn on the CPU, so every device sees the same ones).
    Cost: (hutchinson_samples + power_iters) Hessian-vector products per layer, each a
    double backward pass through the layers above it. The work runs on `device`
    (default: where `model` is); the LayerStats are CPU float32 wherever it ran.
    """
    if any(isinstance(m, QuantLayer) for m in model.modules()):
        raise TapqError("collect statistics on the full-precision model, not a quantized one")
    generator = torch.Generator().manual_seed(seed)
    folded, _ = fold_batchnorm(model, x[:1].to(model_device(model)))
    folded.requires_grad_(False)
    device = resolve_device(device) if device is not None else model_device(folded)
    folded.to(device)
    x, y = x.to(device), y.to(device)
    infos = find_quantizable_layers(folded, x[:1])
    if not infos:
        return []
    costs = measure_costs(folded, x[:1])
    modules = [folded.get_submodule(info.name) for info in infos]
    names = [info.name + ".weight" for info in infos]
    weights = [module.weight for module in modules]
    for w in weights:
        w.requires_grad_(True)

    acts: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = [module.register_forward_hook(
        lambda m, i, o, k=k: acts.__setitem__(k, (i[0].detach(), o.detach())))
        for k, module in enumerate(modules)]
    try:
        with _twice_differentiable_attention():
            loss = nn.functional.cross_entropy(folded(x), y)
    finally:
        for handle in handles:
            handle.remove()
    rows = [(_rows(m, acts[k][0], max_act_rows, generator),
             _rows(m, acts[k][1], max_act_rows, generator))
            for k, m in enumerate(modules)]
    del acts
    grads = torch.autograd.grad(loss, weights, create_graph=True)
    # The curvature probes are most of the cost: one bar step per layer. (Traces first,
    # then eigenvalues: the order of draws from `generator` is part of the result.)
    pairs = list(zip(grads, weights))
    traces = [_hutchinson(g, w, hutchinson_samples, generator)
              for g, w in track(pairs, "statistics: Hessian traces")]
    eigs = [_power_iteration(g, w, power_iters, generator)
            for g, w in track(pairs, "statistics: Hessian eigenvalues")]
    grads = [g.detach() for g in grads]  # frees the double-backward graph
    del loss
    for w in weights:
        w.requires_grad_(False)
    with _twice_differentiable_attention():  # vmap has batching rules for the math kernel
        fishers = _fisher(folded, names, x, y)
    synflows = _synflow(folded, names, x[:1])

    stats = [LayerStats(
        name=info.name, kind=info.kind, index=info.index, num_params=info.num_params,
        macs=costs.layers[info.name].macs, weight=_frozen(weights[k]),
        grad=_frozen(grads[k]), act_in=_frozen(rows[k][0]), act_out=_frozen(rows[k][1]),
        hessian_trace=traces[k], hessian_trace_avg=traces[k] / info.num_params,
        hessian_eig=eigs[k], fisher=_frozen(fishers[k]), synflow=_frozen(synflows[k]))
        for k, info in enumerate(infos)]
    warn_degenerate(stats)
    return stats


# Where statistics are computed is not part of what they are (devices agree within float
# tolerance), so `device` is no option of the cache key.
_DEFAULT_OPTIONS = {k: v for k, v in collect_stats.__kwdefaults__.items() if k != "device"}


def _options(kwargs: dict) -> dict:
    """collect_stats' keyword arguments with defaults filled in, so equal calls share keys."""
    unknown = set(kwargs) - set(_DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"collect_stats got unexpected arguments: {', '.join(sorted(unknown))}")
    return {**_DEFAULT_OPTIONS, **kwargs}


def stats_key(model: nn.Module, x: torch.Tensor, y: torch.Tensor, **kwargs) -> str:
    """The cache key of collect_stats(model, x, y, **kwargs): a SHA-256 hex digest."""
    digest = model_digest(model)
    update_digest(digest, "x", x)
    update_digest(digest, "y", y)
    digest.update(repr(sorted(_options(kwargs).items())).encode())
    digest.update(f"stats-v{STATS_VERSION}".encode())
    return digest.hexdigest()


_MEMORY: dict[str, list[LayerStats]] = {}


def collect_stats_cached(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         device: DeviceLike = None,
                         **kwargs) -> list[LayerStats]:
    """collect_stats, cached in memory and on disk under ``cache_dir()/stats/<key>.pt``.

    The key covers the architecture, every weight, the batch and the options, so a
    changed model or batch is recomputed; an unreadable file is recomputed and replaced.
    `device` only says where a missing entry is computed (it is not part of the key).
    """
    options = _options(kwargs)
    key = stats_key(model, x, y, **options)
    if key in _MEMORY:
        return list(_MEMORY[key])
    path = cache_dir() / "stats" / f"{key}.pt"
    stats = _load(path)
    if stats is None:
        stats = collect_stats(model, x, y, **options, device=device)
        _save(stats, path)
    warn_degenerate(stats)  # also when read back: the warning must not vanish on a rerun
    while len(_MEMORY) >= _MEMORY_ENTRIES:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = stats
    return list(stats)


def _save(stats: list[LayerStats], path: Path) -> None:
    records = [{f.name: getattr(s, f.name) for f in fields(s) if f.compare} for s in stats]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    torch.save({"version": STATS_VERSION, "layers": records}, partial)
    os.replace(partial, path)  # atomic: parallel builders never read half a file


def _load(path: Path) -> list[LayerStats] | None:
    if not path.exists():
        return None
    try:
        saved = torch.load(path, weights_only=True)
        if saved.get("version") != STATS_VERSION:
            return None
        return [LayerStats(**record) for record in saved["layers"]]
    except Exception:  # a corrupt or foreign file is recomputed, not fatal
        return None
