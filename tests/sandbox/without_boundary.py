"""Run a command where tapq's sandbox cannot build its OS boundary (tests only).

    python tests/sandbox/without_boundary.py -m tapq.cli proxy eval --proxy p.py

Installs a seccomp filter on itself that makes the ``seccomp`` and ``landlock_*`` system
calls fail with ENOSYS and ``unshare`` with EPERM, as an old kernel or a strict container
would, then execs Python with the given arguments (the filter is inherited).
"""
import ctypes
import errno
import os
import platform
import struct
import sys

NUMBERS = {"x86_64": (0xC000003E, {"seccomp": 317, "unshare": 272}),
           "aarch64": (0xC00000B7, {"seccomp": 277, "unshare": 97})}
LANDLOCK = (444, 445, 446)


def main() -> None:
    arch, calls = NUMBERS[platform.machine()]
    denied = [(calls["seccomp"], errno.ENOSYS), (calls["unshare"], errno.EPERM),
              *[(nr, errno.ENOSYS) for nr in LANDLOCK]]
    rows = [(0x20, 0, 0, 4), (0x15, 1, 0, arch), (0x06, 0, 0, 0x7FFF0000), (0x20, 0, 0, 0)]
    for nr, code in denied:
        rows += [(0x15, 0, 1, nr), (0x06, 0, 0, 0x00050000 | code)]
    rows.append((0x06, 0, 0, 0x7FFF0000))
    filters = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *r) for r in rows))
    prog = ctypes.create_string_buffer(struct.pack("=HxxxxxxQ", len(rows),
                                                   ctypes.addressof(filters)))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # no_new_privs
    assert libc.prctl(22, 2, prog, 0, 0) == 0, os.strerror(ctypes.get_errno())  # SECCOMP
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])


if __name__ == "__main__":
    main()
