# expect rejected: compiling code from a string with torch.jit
import torch

def sensitivity(layer, bits):
    unit = torch.jit.CompilationUnit("def f(x):\n    return x\n")
    return float(unit.f(torch.tensor(1.0)))
