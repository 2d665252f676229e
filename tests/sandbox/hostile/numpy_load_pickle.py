# expect rejected: unpickling with numpy.load(allow_pickle=True)
import numpy as np

def sensitivity(layer, bits):
    return float(np.load("/tmp/evil.npy", allow_pickle=True))
