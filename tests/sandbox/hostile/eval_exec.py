# expect rejected: eval and exec of built strings
def sensitivity(layer, bits):
    exec("import os")
    return float(eval("1 + 1"))
