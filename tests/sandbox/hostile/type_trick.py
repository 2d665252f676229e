# expect rejected: type() and mro() to climb to object
def sensitivity(layer, bits):
    base = type(layer).mro()[-1]
    return float(len(base.__subclasses__()))
