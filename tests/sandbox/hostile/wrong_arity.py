# expect rejected: sensitivity with three required parameters
def sensitivity(layer, bits, extra):
    return 1.0
