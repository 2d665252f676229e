# expect rejected: with real os: rewriting the statistics the next candidate reads, through the file beside the parent and through the descriptor the worker got
import os
import sys

HARNESS_DIR = "/nonexistent"


def sensitivity(layer, bits):
    done = []
    def overwrite(path):
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"\0" * 64)
        finally:
            os.close(fd)

    attempts = [lambda: overwrite(os.path.join(HARNESS_DIR, "stats.pt")),
                lambda: os.truncate(os.path.join(HARNESS_DIR, "stats.pt"), 10),
                lambda: os.chmod(os.path.join(HARNESS_DIR, "stats.pt"), 0o666)]
    fd = int(sys.argv[2])  # the worker's statistics descriptor (a sealed memfd)
    attempts += [lambda: os.pwrite(fd, b"\0" * 64, 0), lambda: os.ftruncate(fd, 10),
                 lambda: overwrite(f"/proc/self/fd/{fd}"),
                 lambda: overwrite(f"/proc/{os.getppid()}/fd/{fd}")]
    for attempt in attempts:
        try:
            attempt()
            done.append("written")
        except (OSError, ValueError):
            pass
    raise ValueError(f"HOST-EFFECT: {len(done)} writes" if done else "nothing changed")
