# expect error: returning infinity
import math

def sensitivity(layer, bits):
    return math.inf if bits == 2 else 1.0
