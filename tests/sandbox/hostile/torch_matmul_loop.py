# expect timeout: a busy loop of large matrix products inside torch
import torch

def sensitivity(layer, bits):
    a = torch.randn(1500, 1500)
    while True:
        a = (a @ a) / a.norm()
