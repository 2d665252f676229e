# expect rejected: raising SystemExit directly
def sensitivity(layer, bits):
    raise SystemExit(3)
