# expect error: returning a complex number
def sensitivity(layer, bits):
    return 1.0 + 2.0j
