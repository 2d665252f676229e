# expect rejected: importing os indirectly through importlib
import importlib

def sensitivity(layer, bits):
    return float(len(importlib.import_module("os").environ))
