# expect rejected: writing a file with numpy.savetxt
import numpy as np

def sensitivity(layer, bits):
    np.savetxt("/tmp/tapq-hostile-pwned", layer.weight.flatten().numpy())
    return 1.0
