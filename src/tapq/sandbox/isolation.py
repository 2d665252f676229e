"""The worker's OS boundary: applied in layers, then judged by what it stops.

Layers, in the order the worker applies them after its trusted setup:

1. **Namespace jail** (jail.py): new user, mount and network namespaces and a minimal
   read-only root; no ``/proc``, no network interface but a loopback that is down.
   Where the kernel refuses user namespaces, a root worker drops to nobody instead.
2. **Capabilities dropped**: the root-inside-the-namespace holds none afterwards, so it
   cannot remount or unmount what the jail set up.
3. **Landlock** (landlock.py): the file system read-only and limited to what the jail
   shows, TCP refused, signals and abstract sockets scoped -- the same rules again, from
   an independent kernel mechanism that needs no namespace.
4. **seccomp** (seccomp.py, by ``seal`` once the watchdog thread runs): no sockets, no
   new processes, no ptrace, no signals to others, no mounts or namespaces.
5. Resource limits (the worker's ``lock_down``) and an environment built from nothing
   (the parent's ``_worker_env``).

``verify`` then *tries* what a candidate that escaped the language-level checks would do
-- open sockets, fork, create files outside the private tmp, read another process's
environment in ``/proc``, list the user's folders -- and names every requirement that
did not hold. Isolation is what verify observes, never what the layers claim: a kernel
without Landlock, a container that forbids user namespaces, an architecture without a
seccomp policy all show up here, and the parent refuses to run candidates unless told.

Standard library only (the worker imports it before anything of tapq's).
"""
from __future__ import annotations

import ctypes
import os
import socket
import struct

from tapq.sandbox import jail, landlock, seccomp

__all__ = ["REQUIREMENTS", "isolate", "seal", "verify"]

REQUIREMENTS = {
    "network": "no network of any kind (loopback and Unix sockets included)",
    "processes": "no new processes",
    "filesystem": "the file system read-only but for a private tmp",
    "visibility": "no other process's /proc and nothing of the user's outside the "
                  "Python environment and tapq",
    "environment": "no variable from the parent's environment",
}
NOBODY = 65534
ENV_KEYS = frozenset({"PATH", "LANG", "LC_ALL", "LC_CTYPE", "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE",
                      "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                      "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"})
DEVICES = {"/dev/null": landlock.READ_FILE | landlock.WRITE_FILE,
           "/dev/zero": landlock.READ_FILE, "/dev/random": landlock.READ_FILE,
           "/dev/urandom": landlock.READ_FILE}
_CAP_VERSION_3 = 0x20080522


def _drop_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (capset, version 3)."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = ctypes.create_string_buffer(struct.pack("=Ii", _CAP_VERSION_3, 0))
    data = ctypes.create_string_buffer(bytes(24))
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def isolate(extra_paths: list[str], scratch: str) -> tuple[list[str], list[str]]:
    """Apply layers 1-3 to this single-threaded process; (mechanisms, problems)."""
    mechanisms, problems = [], []
    paths = jail.needed_paths(extra_paths)
    try:
        jail.enter_jail(paths, scratch)
        mechanisms.append("user+mount+network namespaces")
    except OSError as error:
        problems.append(f"namespaces: {error.strerror or error}")
        if os.geteuid() == 0:
            try:
                _drop_to_nobody()
                mechanisms.append("uid nobody")
            except OSError as drop:
                problems.append(f"dropping root: {drop.strerror}")
    try:
        _drop_capabilities()
    except OSError as error:
        problems.append(f"capabilities: {error.strerror or error}")
    try:
        readable = [*paths, *jail.SYSTEM_FILES]
        abi = landlock.restrict(readable, [scratch], DEVICES)
        mechanisms.append(f"Landlock ABI {abi}")
    except OSError as error:
        problems.append(f"Landlock: {error.strerror or error}")
    return mechanisms, problems


def seal() -> str:
    """Layer 4 (after the last thread the worker needs has started)."""
    return f"seccomp ({seccomp.install()})"


def _attempt(action) -> bool:
    """Whether `action` succeeded (closing what it opened)."""
    try:
        result = action()
    except (OSError, ValueError):
        return False
    if isinstance(result, socket.socket):
        result.close()
    elif isinstance(result, int) and result >= 0:
        os.close(result)
    return True


def _forks() -> bool:
    try:
        child = os.fork()
    except OSError:
        return False
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    return True


def _creates_file(folder: str) -> bool:
    path = os.path.join(folder, f".tapq-isolation-check-{os.getpid()}")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:
        return False
    os.unlink(path)
    return True


def _shows_more(folder: str, needed: list[str]) -> bool:
    """Whether listing `folder` shows anything but the way to the paths the jail needs
    (a checkout holding tapq's sources shows its ``src`` folder, nothing else)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return False
    return any(not any(n == path or n.startswith(path + "/") or path.startswith(n + "/")
                       for n in needed)
               for path in (os.path.join(folder, e) for e in entries))


def verify(scratch: str, outside: list[str], needed: list[str]) -> dict[str, str]:
    """Requirement -> what still got through, for every requirement that does not hold.

    `outside`: folders of the parent's (its working folder, the user's home, the folder of
    the statistics) that must be neither writable nor listable beyond `needed` (the paths
    the worker may read).
    """
    failed: dict[str, str] = {}
    opened = [name for name, family in (("IPv4", socket.AF_INET), ("IPv6", socket.AF_INET6),
                                        ("Unix", socket.AF_UNIX))
              if _attempt(lambda f=family: socket.socket(f, socket.SOCK_STREAM))]
    if opened:
        failed["network"] = f"{', '.join(opened)} sockets can be opened"
    if _forks():
        failed["processes"] = "fork() succeeded"
    here = os.path.dirname(os.path.abspath(__file__))
    folders = list(dict.fromkeys(["/", "/tmp", "/var/tmp", "/dev/shm", "/run/lock", here,
                                  *outside]))
    written = [f for f in folders if os.path.isdir(f) and f != scratch and _creates_file(f)]
    if written:
        failed["filesystem"] = f"files can be created in {', '.join(written)}"
    seen = [p for p in (f"/proc/{os.getppid()}/environ", "/proc/1/environ", "/etc/passwd")
            if _attempt(lambda p=p: os.open(p, os.O_RDONLY))]
    seen += [f for f in outside if _shows_more(f, needed)]
    if seen:
        failed["visibility"] = f"readable: {', '.join(seen)}"
    extra = sorted(set(os.environ) - ENV_KEYS)
    if extra:
        failed["environment"] = f"inherited variables: {', '.join(extra[:5])}"
    return failed
