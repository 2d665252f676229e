"""Input patches matched to the weight, and per-channel activation ranges.

`act_in` rows are channel vectors at one position, which cannot meet a conv weight: a
proxy that wants the output error (W - Q(W)) x needs the input *as the weight reads it*.
`PatchSampler` keeps a bounded, seeded sample of those rows -- im2col rows of width
in_channels / groups x kernel positions for a conv, input rows for a Linear -- so that
``patches @ weight.reshape(out, -1).T`` is the layer's output before bias on them.

Patches are taken with the layer's *own* forward on a one-hot depthwise weight (each
output channel copies one input value of the receptive field), not re-implemented with
``unfold``, so a conv subclass with its own padding (TensorFlow's SAME, in
EfficientNet-Lite) gives exactly the patches its forward reads. Only the examples holding
sampled rows are unfolded, as many together as `_UNFOLD_BUDGET` allows (at least one), so
memory stays bounded. A grouped conv's rows are (example, position, group) triples: each
row meets only the weights of its group.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelRange", "PatchSampler"]

# Values one unfolding call may produce (64 MiB of float32): examples are unfolded
# together up to this, one at a time beyond it.
_UNFOLD_BUDGET = 2 ** 24


def _unfolded(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(examples, positions * groups, fan_in) rows of the examples `x`, ordered by
    position then group.

    The module's own forward runs as a depthwise conv with a one-hot weight: output
    channel c * k + j copies kernel offset j of input channel c, so channels
    [g * fan_in, (g + 1) * fan_in) are group g's patch in the weight's (in / groups, kh,
    kw) order, at unfold's cost (no multiplications by the zeros of a dense one-hot).
    """
    params = module._parameters
    weight, bias, groups = params["weight"], params.get("bias"), module.groups
    channels, kernel = module.in_channels, weight[0, 0].numel()
    eye = torch.eye(kernel, dtype=weight.dtype, device=weight.device)
    params["weight"] = eye.reshape(kernel, 1, *weight.shape[2:]).repeat(
        channels, *[1] * (weight.dim() - 1))
    if "bias" in params:
        params["bias"] = None
    module.groups = channels
    try:
        with torch.no_grad():
            out = module.forward(x)  # forward, not __call__: no hooks, no recursion
    finally:
        params["weight"], module.groups = weight, groups
        if "bias" in params:
            params["bias"] = bias
    fan_in = weight[0].numel()
    out = out.reshape(len(x), groups, fan_in, -1)  # (examples, groups, fan_in, positions)
    return out.permute(0, 3, 1, 2).reshape(len(x), -1, fan_in)


class PatchSampler:
    """At most `limit` patch rows of one layer over all chunks, drawn over the whole batch
    (like the act_in rows) when the first chunk shows how many rows an example has."""

    def __init__(self, module: nn.Module, limit: int, examples: int,
                 generator: torch.Generator):
        self.module, self.limit, self.examples = module, limit, examples
        self.generator = generator
        self.linear = isinstance(module, nn.Linear)
        self.keep: torch.Tensor | None = None
        self.offset, self.parts, self.groups_of, self.chunk_examples = 0, [], [], 1

    def _per_example(self, x: torch.Tensor, output: torch.Tensor) -> int:
        if self.linear:
            return x[0].numel() // x.shape[-1]
        return output[0, 0].numel() * self.module.groups

    def add(self, x: torch.Tensor, output: torch.Tensor) -> None:
        x = x.detach()
        per_example = self._per_example(x, output)
        if self.keep is None:
            total = per_example * self.examples
            self.keep = (torch.randperm(total, generator=self.generator)[:self.limit].sort().values
                         if total > self.limit else torch.arange(total))
        span = per_example * len(x)
        inside = self.keep[(self.keep >= self.offset) & (self.keep < self.offset + span)]
        inside = inside - self.offset
        self.offset += span
        if self.linear:
            rows = x.reshape(-1, x.shape[-1])[inside.to(x.device)].cpu()
            self.parts.append(rows)
            self.groups_of.append(torch.zeros(len(inside), dtype=torch.long))
            return
        examples = inside.div(per_example, rounding_mode="floor")
        needed = examples.unique()  # sorted
        step = max(1, _UNFOLD_BUDGET // (per_example * self.module.weight[0].numel()))
        for start in range(0, len(needed), step):
            batch = needed[start:start + step]
            mine = (examples >= batch[0]) & (examples <= batch[-1])
            rows = _unfolded(self.module, x[batch.to(x.device)])
            where = torch.searchsorted(batch, examples[mine])
            within = inside[mine] - examples[mine] * per_example
            self.parts.append(rows[where.to(rows.device), within.to(rows.device)].cpu())
            self.groups_of.append((inside[mine] % self.module.groups).long())

    def rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(patches (rows, fan_in), group of each row (rows,) int64)."""
        fan_in = self.module.weight[0].numel()
        if not self.parts:
            return torch.empty(0, fan_in), torch.empty(0, dtype=torch.long)
        return torch.cat(self.parts), torch.cat(self.groups_of)


class ChannelRange:
    """Exact per-channel minimum and maximum of a layer's input and output over the batch
    (channels: dim 1 of a conv's tensors, the last dim of a Linear's)."""

    def __init__(self, module: nn.Module):
        self.linear = isinstance(module, nn.Linear)
        self.low: list[torch.Tensor | None] = [None, None]
        self.high: list[torch.Tensor | None] = [None, None]

    def add(self, side: int, t: torch.Tensor) -> None:
        t = t.detach()
        if not self.linear:
            t = t.movedim(1, -1)
        t = t.reshape(-1, t.shape[-1])
        low, high = t.amin(0).cpu(), t.amax(0).cpu()
        self.low[side] = low if self.low[side] is None else torch.minimum(self.low[side], low)
        self.high[side] = high if self.high[side] is None else torch.maximum(self.high[side],
                                                                             high)

    def ranges(self) -> dict[str, torch.Tensor]:
        """in_min, in_max (in_channels,), out_min, out_max (out_channels,)."""
        return {"in_min": self.low[0], "in_max": self.high[0],
                "out_min": self.low[1], "out_max": self.high[1]}
