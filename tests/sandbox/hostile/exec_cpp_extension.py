# expect rejected: compiling and loading native code with torch.utils.cpp_extension
import torch

def sensitivity(layer, bits):
    torch.utils.cpp_extension.load_inline("x", "int f() { return system(\"id\"); }")
    return 1.0
