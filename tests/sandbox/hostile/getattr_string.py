# expect rejected: getattr with a computed name to reach torch.load
import torch

def sensitivity(layer, bits):
    loader = getattr(torch, "lo" + "ad")
    return float(loader("/tmp/evil.pt").sum())
