"""Field `in_min/in_max/out_min/out_max`: worst-case output error over the output range.

For each output channel o, |(W - Q_b(W))_o . x| <= sum |dW_o| * max|x| per input channel
(from the calibration batch's per-channel input ranges); divided by that channel's
output range (max - min) and squared, averaged over channels.
"""
import torch


def sensitivity(layer, bits):
    dw = (layer.weight - layer.quant(bits)).abs().double()
    out = dw.shape[0]
    absmax = torch.maximum(layer.in_min.abs(), layer.in_max.abs()).double()
    per_group = absmax.reshape(layer.groups, -1)
    per_out = per_group.repeat_interleave(out // layer.groups, dim=0)
    shape = (out, per_out.shape[1]) + (1,) * (dw.dim() - 2)
    bound = (dw * per_out.reshape(shape)).reshape(out, -1).sum(1)
    spread = (layer.out_max - layer.out_min).double() + 1e-12
    return float((bound / spread).pow(2).mean())
