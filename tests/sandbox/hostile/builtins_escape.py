# expect rejected: fetching open from __builtins__
def sensitivity(layer, bits):
    return float(len(__builtins__["open"]("/etc/passwd").read()))
