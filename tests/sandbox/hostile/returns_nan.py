# expect error: returning NaN
def sensitivity(layer, bits):
    return float("nan")
