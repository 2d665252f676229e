"""The worker's system-call filter (seccomp BPF, built here: no library needed).

A deny-list, because torch and numpy use a long, version-dependent list of ordinary calls
(memory, futexes, files already open, clocks) that an allow-list would have to chase. What
it refuses is what an escaped candidate would need to leave the process: sockets of any
family (so no network, no Unix or netlink sockets, whatever the namespaces), new processes
and threads, exec, ptrace and reading other processes' memory, signals to any process but
itself, new namespaces and mounts, keyrings, BPF, perf, userfaultfd, io_uring (whose
operations bypass this filter), kernel modules, kexec, reboot, swap and the x32 ABI. A
refused call fails with EPERM (clone3 with ENOSYS, so that C libraries fall back to clone
and get EPERM there); a foreign architecture or an x32 call kills the process.
Applied to all threads at once (TSYNC), after no_new_privs.

Standard library only (the worker imports it before anything of tapq's).
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

__all__ = ["SeccompError", "install"]

DENIED = ("socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
          "clone", "fork", "vfork", "execve", "execveat", "ptrace", "process_vm_readv",
          "process_vm_writev", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "unshare",
          "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
          "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "keyctl", "add_key",
          "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
          "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
          "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
          "acct", "quotactl", "name_to_handle_at", "open_by_handle_at", "mknod", "mknodat",
          "iopl", "ioperm", "personality")
SELF_ONLY = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# System-call numbers (asm/unistd_64.h and asm-generic/unistd.h); None: not on that arch.
_X86_64 = dict(zip(DENIED + SELF_ONLY + ("clone3", "seccomp"), (
    41, 53, 42, 49, 50, 43, 288, 56, 57, 58, 59, 322, 101, 310, 311, 434, 424, 438, 272, 308,
    165, 166, 155, 161, 428, 429, 430, 431, 432, 433, 442, 250, 248, 249, 321, 298, 323, 425,
    426, 427, 246, 320, 175, 313, 176, 169, 167, 168, 163, 179, 303, 304, 133, 259, 172, 173,
    135, 62, 200, 234, 129, 297, 435, 317)))
_AARCH64 = dict(zip(DENIED + SELF_ONLY + ("clone3", "seccomp"), (
    198, 199, 203, 200, 201, 202, 242, 220, None, None, 221, 281, 117, 270, 271, 434, 424,
    438, 97, 268, 40, 39, 41, 51, 428, 429, 430, 431, 432, 433, 442, 219, 217, 218, 280, 241,
    282, 425, 426, 427, 104, 294, 105, 273, 106, 142, 224, 225, 89, 60, 264, 265, None, 33,
    None, None, 92, 129, 130, 131, 138, 240, 435, 277)))
ARCHES = {"x86_64": (0xC000003E, _X86_64), "aarch64": (0xC00000B7, _AARCH64)}
X32_BIT = 0x40000000
RET_KILL_PROCESS, RET_ALLOW, RET_ERRNO = 0x80000000, 0x7FFF0000, 0x00050000
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
NR, ARCH, ARG0_LOW, ARG0_HIGH = 0, 4, 16, 20
PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 38, 1, 1


class SeccompError(OSError):
    """The filter could not be installed (unknown architecture, or the kernel refused)."""


def _program(audit_arch: int, numbers: dict, pid: int, x32: bool) -> list[tuple]:
    """The filter as (code, jt, jf, k) rows; jumps are resolved from symbolic targets."""
    rows: list[tuple] = [(LD_W_ABS, 0, 0, ARCH), (JEQ_K, 0, "kill", audit_arch),
                         (LD_W_ABS, 0, 0, NR)]
    if x32:
        rows.append((JGE_K, "kill", 0, X32_BIT))
    rows.append((JEQ_K, "nosys", 0, numbers["clone3"]))
    rows += [(JEQ_K, "self", 0, numbers[name]) for name in SELF_ONLY]
    rows += [(JEQ_K, "deny", 0, numbers[name]) for name in DENIED if numbers[name] is not None]
    labels = {}
    rows.append((RET_K, 0, 0, RET_ALLOW))
    labels["self"] = len(rows)
    rows += [(LD_W_ABS, 0, 0, ARG0_HIGH), (JEQ_K, 0, "deny", 0),
             (LD_W_ABS, 0, 0, ARG0_LOW), (JEQ_K, "allow", "deny", pid)]
    for label, value in (("allow", RET_ALLOW), ("deny", RET_ERRNO | errno.EPERM),
                         ("nosys", RET_ERRNO | errno.ENOSYS), ("kill", RET_KILL_PROCESS)):
        labels[label] = len(rows)
        rows.append((RET_K, 0, 0, value))
    resolved = []
    for index, (code, jt, jf, k) in enumerate(rows):
        jt, jf = (labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf))
        if not (0 <= jt < 256 and 0 <= jf < 256):
            raise SeccompError(0, "seccomp program too long for a BPF jump")
        resolved.append((code, jt, jf, k))
    return resolved


def install() -> str:
    """Install the filter on every thread of this process; returns the architecture."""
    machine = platform.machine()
    if machine not in ARCHES:
        raise SeccompError(0, f"no seccomp policy for the {machine} architecture")
    audit_arch, numbers = ARCHES[machine]
    rows = _program(audit_arch, numbers, os.getpid(), x32=machine == "x86_64")
    filters = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *r) for r in rows))
    prog = ctypes.create_string_buffer(struct.pack("=HxxxxxxQ", len(rows),
                                                   ctypes.addressof(filters)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SeccompError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.syscall(numbers["seccomp"], SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
                    prog) != 0:
        error = ctypes.get_errno()
        raise SeccompError(error, f"seccomp(SET_MODE_FILTER): {os.strerror(error)}")
    return machine
