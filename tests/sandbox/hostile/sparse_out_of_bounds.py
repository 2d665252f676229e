# expect error: a sparse tensor with an out-of-range index, which unchecked would write outside its buffer in native code
import torch

def sensitivity(layer, bits):
    index = torch.tensor([[10 ** 9]])
    dense = torch.sparse_coo_tensor(index, torch.tensor([1.0]), (2,)).to_dense()
    return float(dense.sum())
