# expect timeout: a bare except that swallows the CPU-limit exception, so only the hard RLIMIT_CPU kill stops it
def sensitivity(layer, bits):
    while True:
        try:
            while True:
                pass
        except:
            pass
