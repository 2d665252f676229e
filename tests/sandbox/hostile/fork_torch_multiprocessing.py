# expect rejected: spawning processes through torch.multiprocessing
import torch

def sensitivity(layer, bits):
    for _ in range(1000):
        torch.multiprocessing.Process(target=sensitivity, args=(layer, bits)).start()
    return 1.0
