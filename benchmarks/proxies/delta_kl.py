"""Field `delta_kl`: the measured KL(FP || quantized) increase on the calibration batch
when this layer alone is quantized to `bits` (the others at the background bit-width)."""


def sensitivity(layer, bits):
    return float(layer.delta_kl[bits])
