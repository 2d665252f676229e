# expect rejected: Tensor.type('os.system'), which imports a dotted name
def sensitivity(layer, bits):
    return float(layer.weight.type("os.system").sum())
