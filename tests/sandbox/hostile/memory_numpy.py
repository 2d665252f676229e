# expect memory: allocating a 80 GB numpy array
import numpy as np

def sensitivity(layer, bits):
    return float(np.zeros((10 ** 5, 10 ** 5)).sum())
