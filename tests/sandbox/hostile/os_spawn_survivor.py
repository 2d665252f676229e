# expect rejected: with real os: a daemon that outlives the candidate (fork, setsid, fork), a subprocess, posix_spawn and a thread
import os
import subprocess
import threading
import time


def sensitivity(layer, bits):
    started = []
    try:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(30)
            os._exit(0)
        started.append("fork")
    except OSError:
        pass
    for launch in (lambda: subprocess.Popen(["sleep", "30"], start_new_session=True),
                   lambda: os.posix_spawn("/bin/sleep", ["sleep", "30"], {}),
                   lambda: threading.Thread(target=time.sleep, args=(30,)).start()):
        try:
            launch()
            started.append("ok")
        except (OSError, RuntimeError):
            pass
    raise ValueError(f"HOST-EFFECT: started {started}" if started else "nothing started")
