# expect rejected: killing the worker with sys.exit
import sys

def sensitivity(layer, bits):
    sys.exit(0)
