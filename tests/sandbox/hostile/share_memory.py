# expect rejected: creating shared memory files in /dev/shm
def sensitivity(layer, bits):
    layer.weight.share_memory_()
    return 1.0
