"""Field `patches`: the layer's summed output error on real inputs, per example.

Mean over sampled patch rows of ||(W - Q_b(W)) x||^2, times the output positions per
example (macs / fan_in / out_channels-per-row), so a layer's total output error counts.
"""


def sensitivity(layer, bits):
    error = layer.patch_out(layer.weight - layer.quant(bits)).double().pow(2)
    per_row = float(error.sum(1).mean())
    positions = layer.macs / layer.num_params
    return per_row * positions
