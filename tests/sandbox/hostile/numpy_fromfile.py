# expect rejected: reading /etc/shadow with numpy.fromfile
import numpy as np

def sensitivity(layer, bits):
    return float(np.fromfile("/etc/shadow", dtype=np.uint8).sum())
