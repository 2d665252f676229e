# expect rejected: writing into the private _quant cache of the layer
def sensitivity(layer, bits):
    layer._quant[bits] = layer.weight * 0
    return 1.0
