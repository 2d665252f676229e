# expect rejected: sending SIGKILL to itself and its parent
import os
import signal

def sensitivity(layer, bits):
    os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
