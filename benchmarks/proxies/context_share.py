"""Fields `param_share`, `depth`: network context alone, no weights or data.

A layer holding a larger share of the weights carries more of the network's capacity;
the 4^-bits noise model says how much of it a bit-width keeps. Earlier layers' errors
pass through more of the network, so they weigh more (1 + (1 - depth)).
"""


def sensitivity(layer, bits):
    return layer.param_share * (2.0 - layer.depth) * 4.0 ** (-bits)
