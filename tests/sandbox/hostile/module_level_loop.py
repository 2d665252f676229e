# expect timeout: an infinite loop at import time, before sensitivity exists
x = 0
while True:
    x += 1

def sensitivity(layer, bits):
    return 1.0
