# expect timeout: an infinite loop inside sensitivity
def sensitivity(layer, bits):
    while True:
        pass
