# expect memory: unbounded memory: appending 1 MB strings to a list
def sensitivity(layer, bits):
    hoard = []
    while True:
        hoard.append(" " * 2 ** 20)
