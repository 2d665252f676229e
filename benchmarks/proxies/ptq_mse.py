"""Field `ptq_quant` alone: mean squared error of the benchmark's quantizer on the weight
(the built-in `quant_mse` with P_b in place of round-to-nearest)."""


def sensitivity(layer, bits):
    error = layer.weight.double() - layer.ptq_quant(bits).double()
    return float(error.pow(2).mean())
