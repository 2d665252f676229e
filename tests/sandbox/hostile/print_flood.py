# expect ok: printing 4 MB per call: output is capped and must not hurt
def sensitivity(layer, bits):
    print("spam " * 800000)
    return float(bits)
