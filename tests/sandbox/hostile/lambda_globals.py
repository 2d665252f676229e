# expect rejected: a lambda's __globals__ and __code__
def sensitivity(layer, bits):
    f = lambda: 0
    return float(len(f.__globals__) + len(f.__code__.co_code))
