# expect rejected: a generator's gi_frame.f_back.f_globals to reach the worker's globals
def probe():
    yield

def sensitivity(layer, bits):
    gen = probe()
    frame = gen.gi_frame
    return float(len(frame.f_back.f_globals["os"].environ))
