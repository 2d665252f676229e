"""Fields `fan_in`, `next_op`: network context alone, no weights or data.

Uniform quantization noise of step ~ 2^-bits on fan_in weights summed into one output
gives output noise ~ fan_in * 4^-bits; a layer feeding a residual sum ('add') has its
error diluted by the skip path (halved here), the network's last layer (next_op
'output') is not followed by anything that could absorb it (doubled).
"""


def sensitivity(layer, bits):
    factor = {"add": 0.5, "output": 2.0}.get(layer.next_op, 1.0)
    return layer.fan_in * 4.0 ** (-bits) * factor
