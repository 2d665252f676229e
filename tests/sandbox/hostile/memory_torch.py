# expect memory: allocating a 4 GB tensor
import torch

def sensitivity(layer, bits):
    return float(torch.ones(10 ** 9).sum())
