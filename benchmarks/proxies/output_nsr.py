"""Field `patches`: the layer's output noise-to-signal ratio on real inputs.

||(W - Q_b(W)) x||^2 / ||W x||^2 over the sampled input patches x, i.e. the weight error
as the layer's output sees it, not the weight's own error.
"""


def sensitivity(layer, bits):
    noise = layer.patch_out(layer.weight - layer.quant(bits)).double().pow(2).sum()
    signal = layer.patch_out(layer.weight).double().pow(2).sum()
    return float(noise / (signal + 1e-30))
