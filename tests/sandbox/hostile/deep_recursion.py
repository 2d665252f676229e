# expect error: unbounded recursion
def deeper(n):
    return deeper(n + 1) + 1

def sensitivity(layer, bits):
    return float(deeper(0))
