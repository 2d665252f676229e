"""The passes over the statistics batch: chunks, targets, gradients, activations, Fisher,
SynFlow.

Memory, not arithmetic, is what stops an ImageNet network on a small machine: a
double-backward graph of a 240-pixel EfficientNet holds ~250 MB per image. So the batch
is cut into chunks sized from the model's activations per example (`chunk_size`), every
pass runs chunk by chunk and sums what it needs (gradients and Hessian-vector products
are sums over examples), and peak memory no longer grows with the number of images.

Every random draw comes from its own generator, seeded by (seed, purpose), so a
statistic's value does not depend on which other statistics were computed with it.
"""
from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from tapq.proxies.layer_io import ChannelRange, PatchSampler

__all__ = [
    "Chunk",
    "FirstOrder",
    "chunk_size",
    "chunks",
    "curvature_grads",
    "first_order",
    "fisher",
    "generator_for",
    "synflow",
]

# Per-example gradients are computed in chunks holding at most this many gradient values.
_PER_EXAMPLE_BUDGET = 2 ** 24
# Float values a chunk's double-backward graph may hold (1.5 GiB), and how many values
# that graph holds per value of the forward activations (measured ~2.2 on EfficientNet).
_GRAPH_BUDGET = 3 * 2 ** 27
_GRAPH_FACTOR = 3


def generator_for(seed: int, purpose: str) -> torch.Generator:
    """A CPU generator for one purpose ("probes", "labels", "rows:3:in", ...)."""
    return torch.Generator().manual_seed(zlib.crc32(f"{seed}:{purpose}".encode()))


@dataclass(frozen=True)
class Chunk:
    """A slice of the batch: inputs, labels (None: label-free) and its share of the batch."""

    x: torch.Tensor
    y: torch.Tensor | None
    weight: float


def chunk_size(model: nn.Module, example: torch.Tensor) -> int:
    """Examples per chunk so that a chunk's double-backward graph fits `_GRAPH_BUDGET`."""
    total = [0]

    def count(module, inputs, output):
        if isinstance(output, torch.Tensor):
            total[0] += output.numel()
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for handle in handles:
            handle.remove()
    return max(1, _GRAPH_BUDGET // max(1, total[0] * _GRAPH_FACTOR))


def chunks(x: torch.Tensor, y: torch.Tensor | None, size: int) -> list[Chunk]:
    """The batch (x, y) in consecutive chunks of at most `size` examples."""
    return [Chunk(x[i:i + size], None if y is None else y[i:i + size],
                  len(x[i:i + size]) / len(x)) for i in range(0, len(x), size)]


def _kl_to_itself(logits: torch.Tensor) -> torch.Tensor:
    """Mean KL(p_FP || p) with p_FP the detached softmax of the same logits: zero, with
    zero gradient, at the FP model, and with the Gauss-Newton curvature as Hessian."""
    reference = torch.log_softmax(logits.detach(), 1)
    return (reference.exp() * (reference - torch.log_softmax(logits, 1))).sum(1).mean()


def curvature_grads(model: nn.Module, weights: list[torch.Tensor], parts: list[Chunk]
                    ) -> Iterator[list[torch.Tensor]]:
    """Per chunk, the gradients (with graph) of its share of the curvature loss: the
    cross-entropy with labels, the KL to the model's own outputs without. A generator:
    each chunk's graph is freed when the next one is built."""
    for part in parts:
        logits = model(part.x)
        loss = (nn.functional.cross_entropy(logits, part.y) if part.y is not None
                else _kl_to_itself(logits))
        yield list(torch.autograd.grad(loss * part.weight, weights, create_graph=True))


@dataclass
class FirstOrder:
    """What one pass without a double backward gives: gradients, sampled activation rows,
    the labels the Fisher uses (the drawn ones, for label-free data), sampled input
    patches with their groups, and per-channel activation ranges."""

    grads: list[torch.Tensor] | None
    rows: list[tuple[torch.Tensor, torch.Tensor]] | None
    labels: torch.Tensor | None
    patches: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    ranges: list[dict[str, torch.Tensor]] | None = None


class _RowSampler:
    """Samples at most `limit` (example, position) rows of a layer's activations over all
    chunks: the row indices are drawn over the whole batch when the first chunk shows
    how many rows an example has, then each chunk keeps its own (in order)."""

    def __init__(self, module: nn.Module, limit: int, examples: int, generator: torch.Generator):
        self.linear = isinstance(module, nn.Linear)
        self.limit, self.examples, self.generator = limit, examples, generator
        self.keep: torch.Tensor | None = None
        self.offset, self.parts, self.chunk_examples = 0, [], 1

    def add(self, t: torch.Tensor) -> None:
        t = t.detach()
        if not self.linear:
            t = t.movedim(1, -1)
        t = t.reshape(-1, t.shape[-1])
        if self.keep is None:
            total = len(t) // max(1, self.chunk_examples) * self.examples
            self.keep = (torch.randperm(total, generator=self.generator)[:self.limit].sort().values
                         if total > self.limit else torch.arange(total))
        inside = self.keep[(self.keep >= self.offset) & (self.keep < self.offset + len(t))]
        self.parts.append(t[(inside - self.offset).to(t.device)].cpu())
        self.offset += len(t)

    def rows(self) -> torch.Tensor:
        return torch.cat(self.parts)


def _sample_hook(inputs: _RowSampler | None, outputs: _RowSampler | None,
                 patches: PatchSampler | None, ranges: ChannelRange | None):
    def hook(module, args, output) -> None:  # returns None: the output is left as it is
        if inputs is not None:
            inputs.add(args[0])
            outputs.add(output)
        if patches is not None:
            patches.add(args[0], output)
        if ranges is not None:
            ranges.add(0, args[0])
            ranges.add(1, output)
    return hook


def first_order(model: nn.Module, modules: list[nn.Module], weights: list[torch.Tensor],
                parts: list[Chunk], want: set[str], limit: int, seed: int) -> FirstOrder:
    """Gradients of the mean loss and sampled activation rows, chunk by chunk.

    Label-free chunks get labels drawn from the model's own softmax (seeded): the
    cross-entropy to them is a one-sample estimate of the KL to the full-precision
    outputs (up to a constant), whose gradient would otherwise be exactly zero.
    """
    examples = sum(len(p.x) for p in parts)
    samplers = {}
    if "act" in want:
        samplers = {(k, side): _RowSampler(m, limit, examples,
                                           generator_for(seed, f"rows:{k}:{side}"))
                    for k, m in enumerate(modules) for side in ("in", "out")}
    patches = ([PatchSampler(m, limit, examples, generator_for(seed, f"patches:{k}"))
                for k, m in enumerate(modules)] if "patches" in want else None)
    ranges = [ChannelRange(m) for m in modules] if "act_range" in want else None
    hooked = bool(samplers) or patches is not None or ranges is not None
    label_generator = generator_for(seed, "labels")
    grads = [torch.zeros_like(w) for w in weights] if "grad" in want else None
    labels = []
    for part in parts:
        for sampler in samplers.values():
            sampler.chunk_examples = len(part.x)
        handles = [m.register_forward_hook(_sample_hook(
            samplers.get((k, "in")), samplers.get((k, "out")),
            patches[k] if patches else None, ranges[k] if ranges else None))
            for k, m in enumerate(modules)] if hooked else []
        try:
            with torch.set_grad_enabled(grads is not None):
                logits = model(part.x)
        finally:
            for handle in handles:
                handle.remove()
        y = part.y
        if y is None:
            probs = torch.softmax(logits.detach(), 1).cpu().double()
            y = torch.multinomial(probs, 1, generator=label_generator)[:, 0].to(logits.device)
        labels.append(y)
        if grads is not None:
            loss = nn.functional.cross_entropy(logits, y) * part.weight
            for total, g in zip(grads, torch.autograd.grad(loss, weights)):
                total += g
    rows = ([(samplers[k, "in"].rows(), samplers[k, "out"].rows()) for k in range(len(modules))]
            if samplers else None)
    return FirstOrder(grads, rows, torch.cat(labels),
                      [p.rows() for p in patches] if patches is not None else None,
                      [r.ranges() for r in ranges] if ranges is not None else None)


def fisher(model: nn.Module, names: list[str], x: torch.Tensor,
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
        except Exception:  # noqa: BLE001 -- e.g. data-dependent control flow: loop instead
            for xi, yi in zip(xs, ys):
                for n, gi in grad(loss)(params, xi, yi).items():
                    sums[n] += gi.pow(2)
    return [sums[n] / len(x) for n in names]


def synflow(model: nn.Module, names: list[str], example: torch.Tensor) -> list[torch.Tensor]:
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
