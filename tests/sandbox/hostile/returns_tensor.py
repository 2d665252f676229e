# expect error: returning the whole weight tensor instead of a number
def sensitivity(layer, bits):
    return layer.weight - layer.quant(bits)
