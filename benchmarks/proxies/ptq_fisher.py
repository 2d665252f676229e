"""Field `ptq_quant`: the Fisher proxy with the benchmark's own quantizer.

sum(F * (W - P_b(W))^2), P_b the weight the benchmark's PTQ makes (AdaRound on the
shipped benchmark), where the built-in `fisher` uses round-to-nearest.
"""


def sensitivity(layer, bits):
    error = layer.weight.double() - layer.ptq_quant(bits).double()
    return float((layer.fisher.double() * error.pow(2)).sum())
