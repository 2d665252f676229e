# expect rejected: unpickling an attacker file with torch.load
import torch

def sensitivity(layer, bits):
    return float(torch.load("/tmp/evil.pt", weights_only=False))
