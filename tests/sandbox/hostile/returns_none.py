# expect error: returning nothing
def sensitivity(layer, bits):
    x = layer.weight.sum()
