# expect error: raising an exception
def sensitivity(layer, bits):
    if layer.index > 1:
        raise ValueError("layer too deep")
    return 1.0
