# expect error: returning a string that looks like a number
def sensitivity(layer, bits):
    return "1.0"
