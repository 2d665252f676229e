# expect timeout: legal but far too slow code (10^9 Python additions)
def sensitivity(layer, bits):
    total = 0.0
    for i in range(10 ** 9):
        total += i * 1e-9
    return total
