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

import math
from dataclasses import dataclass, field, fields

import torch
from torch import nn

from tapq.device import DeviceLike, model_device, resolve_device
from tapq.errors import TapqError
from tapq.proxies import stats_passes as passes
from tapq.proxies.context import network_context
from tapq.proxies.degenerate import warn_degenerate
from tapq.proxies.hessian import (
    hutchinson_traces,
    power_iterations,
    twice_differentiable_attention,
)
from tapq.proxies.ptq_stats import ptq_settings_from, ptq_statistics
from tapq.proxies.stats_config import ALL_STATISTICS
from tapq.quant import find_quantizable_layers, fold_batchnorm, measure_costs
from tapq.quant.layers import QuantLayer
from tapq.quant.quantizers import (
    FULL_PRECISION,
    check_bits,
    fake_quant_weight,
    weight_scale,
)
from tapq.sandbox import layer_methods

# Bit-widths the per-bit statistics (ptq_weights, delta_loss) cover unless told otherwise.
DEFAULT_BITS = (2, 3, 4, 5, 6, 7, 8)


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
        depth: index / (layers - 1): 0 for the first layer, 1 for the last.
        param_share, mac_share: this layer's share of all quantizable layers' weights and
            MACs (each sums to 1 over the layers).
        fan_in: weights per output value, in_channels / groups x kernel positions (in
            features for a Linear); the width of a patch row.
        fan_out: output values each input value feeds, out_channels x kernel positions /
            groups (out features for a Linear).
        groups: the conv's groups (1 for a Linear; in_channels for a depthwise conv).
        next_op: what reads the layer's output (through folded BatchNorm): ``relu``,
            ``relu6``, ``add`` (a residual sum), ``conv``, ``depthwise``, ``linear``,
            ``pool``, ``reshape``, ``output`` ..., or ``unknown``.
        patches: sampled input rows as the weight reads them, (rows, fan_in): im2col
            rows of a conv (its own padding included), input rows of a Linear; at most
            ``max_act_rows`` rows, drawn with the seed. ``patches @
            weight.reshape(out, -1).T`` is the output before bias on them (groups == 1);
            see ``patch_out`` for grouped convs.
        patch_group: the group each patch row belongs to, (rows,) int64 (all 0 unless
            groups > 1: a depthwise row meets only its own channel's weights).
        in_min, in_max: per-channel minimum and maximum of the input over the whole
            statistics batch, (in_channels,); out_min, out_max the same of the output
            (before any activation that follows), (out_channels,).
        ptq: the PTQ method of ``ptq_weights`` (``rtn`` or ``adaround``: the
            benchmark's), or ``none`` when not computed.
        ptq_weights: {bits: the de-quantized weight PTQ makes at those bits}, weight
            shape; read it through ``ptq_quant(bits)``.
        delta_loss: {bits: loss increase on the statistics batch when this layer alone is
            at `bits` and every other at ``background_bits``} (loss: cross-entropy, or
            KL to full precision for label-free data); 0 at ``background_bits``.
        delta_kl: the same change of KL(p_FP || p_quantized).
        background_bits: the other layers' bit-width in delta_loss (0: not computed).
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
    hessian_trace_se: float = math.nan  # last, with a default: statistics made by hand lack it
    depth: float = math.nan
    param_share: float = math.nan
    mac_share: float = math.nan
    fan_in: int = 0
    fan_out: int = 0
    groups: int = 1
    next_op: str = "unknown"
    patches: torch.Tensor = field(default_factory=lambda: torch.empty(0, 0))
    patch_group: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    in_min: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    in_max: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    out_min: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    out_max: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    ptq: str = "none"
    ptq_weights: dict = field(default_factory=dict)
    delta_loss: dict = field(default_factory=dict)
    delta_kl: dict = field(default_factory=dict)
    background_bits: int = 0
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

    ptq_quant = layer_methods.ptq_quant
    patch_out = layer_methods.patch_out

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
    if isinstance(a, torch.Tensor):  # NaN where a statistic was left out equals NaN
        return isinstance(b, torch.Tensor) and (torch.equal(a, b) or (
            a.is_floating_point() and a.shape == b.shape
            and torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())))
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _frozen(t: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous CPU float32 copy (so stats never alias the model)."""
    return t.detach().to("cpu", torch.float32, memory_format=torch.contiguous_format,
                         copy=True)


def collect_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, *, seed: int = 0,
                  hutchinson_samples: int = 16, power_iters: int = 20,
                  max_act_rows: int = 256, statistics: tuple[str, ...] = ALL_STATISTICS,
                  bits: tuple[int, ...] = DEFAULT_BITS, ptq: dict | None = None,
                  a_bits: int = 8, background_bits: int = 8,
                  ptq_calib: torch.Tensor | None = None,
                  device: DeviceLike = None) -> list[LayerStats]:
    """LayerStats of every quantizable layer of `model` on the batch (x, y), in layer order.

    `y` None (label-free data): the loss is measured against the full-precision model
    itself (see the module docstring). Only `statistics` (names of ALL_STATISTICS) are
    computed; the others are NaN. BatchNorm is folded first (on a copy; `model` is
    untouched). Deterministic for a given `seed`, which drives the Rademacher probes,
    power-iteration starts, sampled labels and activation rows (all drawn on the CPU, so
    every device sees the same ones). Cost: `hutchinson_samples` backward passes for all
    traces together, and up to `power_iters` per layer for the eigenvalues; memory is one
    chunk's graph (tapq.proxies.stats_passes). The work runs on `device` (default: where
    `model` is); the LayerStats are CPU float32 wherever it ran.

    ``ptq`` and ``delta_loss`` use PTQ with settings `ptq` (a PTQSettings dict, e.g. a
    benchmark's ``ptq_settings``; None: the defaults) calibrated on `ptq_calib` (default
    `x`), weights at each of `bits`, activations at `a_bits`, the other layers of
    delta_loss at `background_bits` (tapq.proxies.ptq_stats).
    """
    if any(isinstance(m, QuantLayer) for m in model.modules()):
        raise TapqError("collect statistics on the full-precision model, not a quantized one")
    unknown = set(statistics) - set(ALL_STATISTICS)
    if unknown:
        raise TapqError(f"unknown statistics {sorted(unknown)}; choose from {ALL_STATISTICS}")
    folded, _ = fold_batchnorm(model, x[:1].to(model_device(model)))
    folded.requires_grad_(False)
    device = resolve_device(device) if device is not None else model_device(folded)
    folded.to(device)
    x = x.to(device)
    y = None if y is None else y.to(device)
    infos = find_quantizable_layers(folded, x[:1])
    if not infos:
        return []
    costs = measure_costs(folded, x[:1])
    modules = [folded.get_submodule(info.name) for info in infos]
    names = [info.name + ".weight" for info in infos]
    weights = [module.weight for module in modules]
    want = set(statistics)
    nan = [math.nan] * len(infos)
    for w in weights:
        w.requires_grad_(True)
    with twice_differentiable_attention():
        parts = passes.chunks(x, y, passes.chunk_size(folded, x))
        first = (passes.first_order(folded, modules, weights, parts, want, max_act_rows, seed)
                 if want & {"grad", "act", "fisher", "patches", "act_range"}
                 else passes.FirstOrder(None, None, None))

        def chunk_grads():
            return passes.curvature_grads(folded, weights, parts)

        traces, errors = nan, nan
        if "hessian_trace" in want:
            traces, errors, _ = hutchinson_traces(chunk_grads, weights, hutchinson_samples,
                                                  passes.generator_for(seed, "probes"))
        eigs = (power_iterations(chunk_grads, weights, power_iters,
                                 passes.generator_for(seed, "power"))
                if "hessian_eig" in want else nan)
        for w in weights:
            w.requires_grad_(False)
        # vmap has batching rules for the math attention kernel
        fishers = passes.fisher(folded, names, x, first.labels) if "fisher" in want else None
    synflows = passes.synflow(folded, names, x[:1]) if "synflow" in want else None

    def tensor(values, k: int) -> torch.Tensor:
        return _frozen(values[k]) if values is not None else torch.full(weights[k].shape,
                                                                        math.nan)

    def rows(k: int, side: int) -> torch.Tensor:
        if first.rows is not None:
            return _frozen(first.rows[k][side])
        return torch.empty(0, _features(modules[k], side))

    macs = [costs.layers[info.name].macs for info in infos]
    context = network_context(folded, modules, [info.name for info in infos], macs, x[:1])
    extra = [{**context[k], **_nan_ranges(modules[k]), **_io(first, k, modules[k])}
             for k in range(len(infos))]
    if want & {"ptq", "delta_loss"}:
        found = ptq_statistics(model, ptq_settings_from(ptq),
                               x if ptq_calib is None else ptq_calib, tuple(bits), a_bits,
                               background_bits, x, y, want, len(parts[0].x), device)
        for record, more in zip(extra, found):
            record.update(more)
    stats = [LayerStats(
        name=info.name, kind=info.kind, index=info.index, num_params=info.num_params,
        macs=macs[k], weight=_frozen(weights[k]),
        grad=tensor(first.grads, k), act_in=rows(k, 0), act_out=rows(k, 1),
        hessian_trace=traces[k], hessian_trace_avg=traces[k] / info.num_params,
        hessian_trace_se=errors[k], hessian_eig=eigs[k], fisher=tensor(fishers, k),
        synflow=tensor(synflows, k), **extra[k])
        for k, info in enumerate(infos)]
    warn_degenerate(stats)
    return stats


def _io(first: passes.FirstOrder, k: int, module: nn.Module) -> dict:
    """Patches and ranges of layer k, where the first-order pass sampled them (no patch
    rows where it did not, as act_in has none then)."""
    found = {"patches": torch.empty(0, module.weight[0].numel())}
    if first.patches is not None:
        patches, groups = first.patches[k]
        found.update(patches=_frozen(patches), patch_group=groups.clone())
    if first.ranges is not None:
        found.update({key: _frozen(value) for key, value in first.ranges[k].items()})
    return found


def _nan_ranges(module: nn.Module) -> dict:
    """Ranges of a layer whose act_range was not computed: NaN per channel (the rule for
    statistics left out), so a proxy reading them fails instead of ranking on zeros."""
    return {f"{side}_{end}": torch.full((_features(module, k),), math.nan)
            for k, side in enumerate(("in", "out")) for end in ("min", "max")}


def _features(module: nn.Module, side: int) -> int:
    """Input (side 0) or output (side 1) features of a layer: an empty sample's width."""
    if isinstance(module, nn.Linear):
        return module.out_features if side else module.in_features
    return module.out_channels if side else module.in_channels
