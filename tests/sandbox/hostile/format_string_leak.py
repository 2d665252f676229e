# expect rejected: str.format attribute traversal to print torch.os.environ
import torch

def sensitivity(layer, bits):
    raise ValueError("{0.os.environ}".format(torch))
