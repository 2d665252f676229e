# expect rejected: raw memory through ndarray.ctypes
def sensitivity(layer, bits):
    return float(layer.weight.numpy().ctypes.data)
