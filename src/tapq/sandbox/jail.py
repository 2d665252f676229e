"""The namespace jail: a worker's private view of the machine, built without privileges.

``enter_jail`` moves the calling (single-threaded) worker into new user, mount and network
namespaces -- an ordinary user may create them, so this needs neither root nor
CAP_SYS_ADMIN -- and then pivots into a fresh root that holds only what the Python code
needs, every piece read-only at its usual path: ``/usr`` and the library folders, the
Python installation, the ``sys.path`` entries (site-packages, tapq), ``/etc/ld.so.cache``
and four harmless devices. The worker's scratch folder becomes a small private tmpfs, the
only writable place. There is no ``/proc``, ``/sys``, ``/home``, ``/root``, ``/tmp`` or
``/run``: other processes, other runs and the user's files do not exist in there. The new
network namespace has only a loopback interface that is down, so neither the internet nor
the host's loopback can be reached.

Standard library only (the worker imports it before anything of tapq's).
"""
from __future__ import annotations

import ctypes
import os

__all__ = ["JailError", "enter_jail"]

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache",)
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
NEVER_WHOLE = ("/", "/tmp", "/var/tmp", "/dev/shm", "/home", "/root", "/run", "/proc", "/var")
OLD_ROOT = ".old-root"
SCRATCH_SIZE = "16m"


class JailError(OSError):
    """A step of building the jail failed (the kernel or its settings refuse it)."""


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise JailError(error, f"{what}: {os.strerror(error)}")


def _mount(source, target, fstype, flags: int, data=None, what: str = "mount") -> None:
    encode = lambda x: x.encode() if isinstance(x, str) else x
    _check(_libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)),
           f"{what} {target}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def needed_paths(extra: list[str]) -> list[str]:
    """Real paths that must stay visible: system libraries and `extra` (the Python
    installation, sys.path, tapq), without ones inside another on the same filesystem."""
    import sys

    candidates = [*SYSTEM_DIRS, sys.prefix, sys.base_prefix, sys.exec_prefix,
                  sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                  *extra]
    found: dict[str, int] = {}
    for path in candidates:
        if not os.path.isabs(path) or not os.path.exists(path):
            continue
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            real = os.path.dirname(real)  # a zip on sys.path: its folder
        if real in NEVER_WHOLE:
            continue  # a script's folder on sys.path, say: never all of /tmp or /
        found.setdefault(real, os.stat(real).st_dev)
    kept: list[str] = []
    for path in sorted(found, key=lambda p: (p.count("/"), p)):
        parent = next((k for k in kept if path.startswith(k.rstrip("/") + "/")), None)
        if parent is None or found[parent] != found[path]:
            kept.append(path)
    return kept


def _locked_flags(path: str) -> int:
    """The flags a read-only remount must keep (a user namespace may not clear them)."""
    flags = os.statvfs(path).f_flag
    return MS_NOSUID | MS_NODEV | (MS_NOEXEC if flags & os.ST_NOEXEC else 0)


def _bind(source: str, target: str) -> None:
    """Bind `source` onto `target` inside the new root, read-only."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    _mount(source, target, None, MS_BIND, what="bind")
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(target),
           what="read-only remount")


def enter_jail(paths: list[str], scratch: str) -> None:
    """Enter new user, mount and network namespaces and pivot into the minimal root.

    `paths` (from needed_paths) are shown read-only; `scratch` (an empty folder of ours)
    becomes the only writable place, a fresh tmpfs. Our uid and gid are mapped to root
    inside, which holds capabilities over these namespaces only (the caller drops them).
    Raises JailError when the kernel refuses a step.
    """
    import platform

    pivot = SYS_PIVOT_ROOT.get(platform.machine())
    if pivot is None:
        raise JailError(0, f"no pivot_root number for {platform.machine()}")
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET),
           "unshare(user, mount, network namespaces)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1")
    _write("/proc/self/gid_map", f"0 {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, what="make private")
    # The new root is assembled on a tmpfs over the scratch folder, which hides nothing
    # the jail needs (a virtual environment under /tmp, say).
    stage = scratch
    _mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755", what="tmpfs")
    for path in [*paths, *SYSTEM_FILES, *DEVICES]:
        if not os.path.lexists(path):
            continue
        if path in SYSTEM_DIRS and os.path.islink(path):  # /lib -> usr/lib on a merged /usr
            os.symlink(os.readlink(path), stage + path)
        else:
            _bind(path, stage + path)
    os.makedirs(stage + scratch, exist_ok=True)
    _mount("tmpfs", stage + scratch, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={SCRATCH_SIZE},mode=0700", what="private tmp")
    os.mkdir(f"{stage}/{OLD_ROOT}")
    _check(_libc.syscall(pivot, stage.encode(), f"{stage}/{OLD_ROOT}".encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(f"/{OLD_ROOT}".encode(), MNT_DETACH), "detach the old root")
    os.rmdir(f"/{OLD_ROOT}")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
           what="read-only remount")
    os.chdir(scratch)
