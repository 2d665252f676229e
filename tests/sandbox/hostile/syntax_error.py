# expect rejected: a syntax error
def sensitivity(layer, bits)
    return 1.0
