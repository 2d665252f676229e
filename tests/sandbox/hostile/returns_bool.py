# expect error: returning a bool
def sensitivity(layer, bits):
    return bits > 4
