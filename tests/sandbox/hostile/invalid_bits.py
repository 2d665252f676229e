# expect error: asking the quantizer for an unsupported bit-width
def sensitivity(layer, bits):
    return float((layer.weight - layer.quant(bits + 30)).abs().sum())
