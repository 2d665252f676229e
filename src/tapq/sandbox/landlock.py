"""Landlock: the kernel's unprivileged access control, applied to the worker itself.

``restrict`` makes every file and folder the worker might open read-only and limited to a
short list (the Python installation, ``sys.path``, tapq, a few devices), with the scratch
folder the only writable place; with ABI 4+ it also refuses every TCP bind and connect,
and with ABI 6+ it scopes abstract Unix sockets and signals to the worker's own domain.
It needs no privilege (only no_new_privs), survives anything the worker does afterwards,
and holds by itself where user namespaces are not allowed -- a second wall behind the
namespace jail, not a substitute for it. Files opened before (the statistics, the result
pipe, the log) stay usable.

Standard library only (the worker imports it before anything of tapq's).
"""
from __future__ import annotations

import ctypes
import os
import struct

__all__ = ["LandlockError", "abi_version", "restrict"]

SYS = {"create_ruleset": 444, "add_rule": 445, "restrict_self": 446}  # same on all arches
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | (1 << 14) | (1 << 15)  # + truncate, ioctl_dev
READ_ONLY = EXECUTE | READ_FILE | READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class LandlockError(OSError):
    """Landlock is missing or refused a step."""


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _call(name: str, *args) -> int:
    result = _libc.syscall(SYS[name], *args)
    if result < 0:
        error = ctypes.get_errno()
        raise LandlockError(error, f"landlock_{name}: {os.strerror(error)}")
    return result


def abi_version() -> int:
    """The kernel's Landlock ABI (0: none)."""
    try:
        return _call("create_ruleset", None, ctypes.c_size_t(0),
                     ctypes.c_uint32(CREATE_RULESET_VERSION))
    except LandlockError:
        return 0


def _fs_rights(abi: int) -> int:
    """Every file-system right this ABI knows (all of them are handled, i.e. denied
    unless a rule allows them)."""
    rights = (1 << 13) - 1          # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= 1 << 13           # refer (moving files between folders)
    if abi >= 3:
        rights |= 1 << 14           # truncate
    if abi >= 5:
        rights |= 1 << 15           # ioctl on devices
    return rights


def restrict(readable: list[str], writable: list[str], devices: dict[str, int]) -> int:
    """Restrict this thread (and its future threads) for good; returns the ABI used.

    Args:
        readable: folders (or files) readable beneath; nothing is writable there.
        writable: folders where everything is allowed (the private scratch).
        devices: device path -> rights (e.g. READ_FILE | WRITE_FILE for /dev/null).
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockError(0, "Landlock is not available in this kernel")
    fs = _fs_rights(abi)
    fields = [fs]
    if abi >= 4:
        fields.append(NET_BIND_TCP | NET_CONNECT_TCP)   # no rule allows any port
    if abi >= 6:
        fields.append(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    attr = ctypes.create_string_buffer(struct.pack(f"={len(fields)}Q", *fields))
    ruleset = _call("create_ruleset", attr, ctypes.c_size_t(len(attr.raw)), ctypes.c_uint32(0))
    try:
        rules = [(p, READ_ONLY) for p in readable] + [(p, fs) for p in writable] + \
            list(devices.items())
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                if not os.path.isdir(path):
                    rights &= FILE_ONLY
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights & fs, fd))
                _call("add_rule", ruleset, RULE_PATH_BENEATH, rule, ctypes.c_uint32(0))
            finally:
                os.close(fd)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        _call("restrict_self", ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi
