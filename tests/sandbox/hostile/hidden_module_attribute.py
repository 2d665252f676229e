# expect error: reaching torch.random, a module outside the allow-list, by attribute
import torch

def sensitivity(layer, bits):
    torch.random.manual_seed(0)
    return 1.0
