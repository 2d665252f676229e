# expect rejected: writing a file with ndarray.tofile
def sensitivity(layer, bits):
    layer.weight.numpy().tofile("/tmp/tapq-hostile-pwned")
    return 1.0
