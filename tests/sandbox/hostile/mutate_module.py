# expect error: monkey-patching an allowed module (math.pi)
import math

def sensitivity(layer, bits):
    math.pi = 3.0
    return 1.0
