# expect rejected: a class definition (the way to dunder methods and metaclasses)
class Evil:
    def __init__(self):
        pass

def sensitivity(layer, bits):
    return 1.0
