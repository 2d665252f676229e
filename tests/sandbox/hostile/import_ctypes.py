# expect rejected: calling libc through ctypes
import ctypes

def sensitivity(layer, bits):
    ctypes.CDLL(None).system(b"touch /tmp/tapq-hostile-pwned")
    return 1.0
