"""Field `delta_loss`: the measured loss increase on the calibration batch when this
layer alone is quantized to `bits` (the others at the background bit-width)."""


def sensitivity(layer, bits):
    return float(layer.delta_loss[bits])
