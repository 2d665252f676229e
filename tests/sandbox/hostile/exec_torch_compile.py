# expect rejected: torch.compile (writes and runs generated code)
import torch

def sensitivity(layer, bits):
    return float(torch.compile(lambda w: w.sum())(layer.weight))
