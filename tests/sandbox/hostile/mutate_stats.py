# expect ok: zeroing the layer's tensors and the quantized-weight cache in place
def sensitivity(layer, bits):
    layer.weight.mul_(0)
    layer.grad.zero_()
    layer.quant(bits).zero_()
    layer.fisher.fill_(1e9)
    return float(layer.weight.abs().sum())
