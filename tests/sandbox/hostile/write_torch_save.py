# expect rejected: writing a file with torch.save
import torch

def sensitivity(layer, bits):
    torch.save(layer.weight, "/tmp/tapq-hostile-pwned")
    return 1.0
