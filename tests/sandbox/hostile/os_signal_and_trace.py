# expect rejected: with real os and ctypes: signals to the parent and its group, ptrace attach to the parent, reading its memory with process_vm_readv
import ctypes
import os
import signal

HARNESS_PID = 0


def sensitivity(layer, bits):
    done = []
    for target in {os.getppid(), HARNESS_PID}:
        for send in (lambda: os.kill(target, signal.SIGUSR1),
                     lambda: os.killpg(os.getpgid(target), signal.SIGUSR2)):
            try:
                send()
                done.append(f"signal {target}")
            except OSError:
                pass
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, target, 0, 0) == 0:  # PTRACE_ATTACH
            done.append(f"ptrace {target}")
            libc.ptrace(17, target, 0, 0)  # PTRACE_DETACH
    raise ValueError(f"HOST-EFFECT: {done}" if done else "nothing reached")
