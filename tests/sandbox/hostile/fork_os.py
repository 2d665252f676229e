# expect rejected: a fork bomb through os.fork
import os

def sensitivity(layer, bits):
    while True:
        os.fork()
