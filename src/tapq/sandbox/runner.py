"""The parent side of the sandbox: start a worker per candidate, watch it, kill it, read it.

Candidate code is hostile until proven otherwise. In front of it: ``screen`` (a static
check of the AST with reasons an LLM can act on) and the worker's language-level policy
(policy.py) -- a fast first filter; behind them, the boundary: each worker builds and
verifies an OS boundary of its own before the candidate runs (isolation.py: namespace
jail, Landlock, seccomp, limits) and refuses to go on without it unless allowed
(boundary.py). Here: a fresh worker process per call in its own process group, killed
with SIGKILL on timeout; an environment built from nothing (no API keys); a scratch
folder removed afterwards; the statistics from a sealed memfd, re-hashed before each
worker (stats_file.py); the result on a private pipe, checked; prints in a capped log.

Usage::

    save_stats_for_sandbox(stats, "stats.pt", bits=[2, 4, 8])
    result = Sandbox("stats.pt", [2, 4, 8]).table(code)
    if result.status == "ok":
        result.table            # (layers, 3) float64, finite

Each call costs a process start, the torch import and loading the statistics (about
1.2 s on two CPU cores, ``startup_seconds``); the wall and CPU limits count only from the
moment the candidate's code starts; building and verifying the boundary adds about 10 ms
(``SandboxResult.isolation.seconds``).
Determinism: every (layer, bits) cell sees a fresh copy of the layer and freshly seeded
torch/numpy RNGs, so a table does not depend on evaluation order; it is not re-evaluated.
"""
from __future__ import annotations

import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from tapq.errors import TapqError
from tapq.quant import check_bits
from tapq.sandbox.boundary import (
    WORKER,
    Isolation,
    import_paths,
    outside_folders,
    unisolated_allowed,
    worker_env,
)
from tapq.sandbox.policy import CANDIDATE_FILE
from tapq.sandbox.screen import screen
from tapq.sandbox.stats_file import SealedStats, save_stats_for_sandbox

__all__ = ["Sandbox", "SandboxLimits", "SandboxResult", "sandboxed_proxy_table",
           "save_stats_for_sandbox"]

NOBODY = 65534
MAX_ERROR_CHARS = 600
MAX_RESULT_BYTES = 8 * 2 ** 20
STATUSES = ("ok", "rejected", "error", "timeout", "memory", "crashed")
_LINE = re.compile(r'File "' + re.escape(CANDIDATE_FILE) + r'", line (\d+)')


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one candidate.

    Attributes:
        wall_seconds: wall clock from the start of the candidate's code; then the whole
            process group is killed.
        cpu_seconds: CPU time for the candidate's code (a CPU-time timer raises in it;
            RLIMIT_CPU kills the process about two seconds later if it swallows that).
        memory_mb: address space allowed beyond what the worker holds after loading torch
            and the statistics (RLIMIT_AS).
        file_size_mb: largest file the worker may write (RLIMIT_FSIZE).
        output_kb: printed output kept (and quoted in errors); the rest is dropped.
        startup_seconds: time allowed for the worker to start, import torch and load the
            statistics, before the candidate runs.
    """

    wall_seconds: float = 20.0
    cpu_seconds: int = 20
    memory_mb: int = 1024
    file_size_mb: int = 1
    output_kb: int = 64
    startup_seconds: float = 120.0


@dataclass(frozen=True, eq=False)
class SandboxResult:
    """What one candidate produced.

    Attributes:
        table: (layers, len(bit_choices)) float64, all finite, when ``status == "ok"``.
        status: ``ok``, ``rejected`` (static screen), ``error`` (raised or returned a bad
            value), ``timeout``, ``memory`` or ``crashed`` (killed or exited oddly).
        error: a one-line reason naming the candidate's line, for the LLM to repair ("" if ok).
        seconds: wall time of the whole call.
        startup_seconds: of which process start, imports and statistics loading.
        table_seconds: of which the candidate's own code (its cost, comparable in-process).
        isolation: the OS boundary the worker observed (None if it never got that far).
    """

    table: np.ndarray | None
    status: str
    error: str
    seconds: float
    startup_seconds: float = 0.0
    table_seconds: float = field(default=math.nan)
    isolation: Isolation | None = None


# --- running a candidate ----------------------------------------------------------------
class Sandbox:
    """Runs candidate proxies against one statistics file, each in a fresh worker process.

    Args:
        stats_path: statistics written by save_stats_for_sandbox (or the stats cache); read
            once and sealed in memory (stats_file.py), or a SealedStats.
        bit_choices: the bit-widths of the table's columns.
        limits: resource limits per candidate.
        allow_unisolated: run candidates even where the OS boundary does not hold; None
            reads ``TAPQ_ALLOW_UNISOLATED``. Otherwise such a worker stops before the
            candidate's code and ``table`` raises TapqError.
        guards: the language-level checks (static screen, safe builtins, guarded
            imports). False leaves the OS boundary alone in front of the code: for testing
            that boundary, never for real candidates.
    """

    def __init__(self, stats_path: str | Path | SealedStats, bit_choices: Sequence[int],
                 limits: SandboxLimits = SandboxLimits(), *,
                 allow_unisolated: bool | None = None, guards: bool = True):
        if isinstance(stats_path, SealedStats):
            self.stats, self.stats_path = stats_path, None
        else:
            self.stats_path = Path(stats_path)
            if not self.stats_path.is_file():
                raise TapqError(f"statistics file not found: {self.stats_path}")
            self.stats = SealedStats.from_file(self.stats_path)
        self.bit_choices = [check_bits(b) for b in bit_choices]
        self.limits = limits
        self.allow_unisolated = unisolated_allowed() if allow_unisolated is None \
            else allow_unisolated
        self.guards = guards
        self.isolation: Isolation | None = None  # as the last worker observed it

    def table(self, code: str) -> SandboxResult:
        """The table T[layer, j] = sensitivity(layer, bit_choices[j]) of `code`; never raises
        for anything the code does."""
        start = time.monotonic()
        reason = screen(code) if self.guards else None
        if reason:
            return SandboxResult(None, "rejected", _short(reason), time.monotonic() - start)
        private = Path(tempfile.mkdtemp(prefix="tapq-sandbox-"))
        scratch = Path(tempfile.mkdtemp(prefix="tapq-scratch-"))
        try:
            if os.geteuid() == 0:
                os.chown(scratch, NOBODY, NOBODY)
            self.isolation = None
            return replace(self._run(code, private, scratch, start), isolation=self.isolation)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.rmtree(private, ignore_errors=True)

    def _run(self, code: str, private: Path, scratch: Path, start: float) -> SandboxResult:
        extra = [self.stats_path.parent] if self.stats_path else []
        job = {"code": code, "bits": self.bit_choices, "limits": asdict(self.limits),
               "path": import_paths(), "guards": self.guards,
               "require_isolation": not self.allow_unisolated,
               "outside": outside_folders(*extra)}
        (private / "job.json").write_text(json.dumps(job))
        self.stats.verify()  # the bytes every worker gets are the ones first sealed
        read_fd, write_fd = os.pipe()
        stats_fd = os.dup(self.stats.fd)  # inheritable, unlike the sealed original
        try:
            with open(private / "job.json", "rb") as stdin, open(private / "log", "wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-I", str(WORKER), str(write_fd), str(stats_fd)],
                    stdin=stdin, stdout=log, stderr=subprocess.STDOUT, cwd=scratch,
                    env=worker_env(scratch), start_new_session=True,
                    pass_fds=(write_fd, stats_fd))
        except OSError as error:
            os.close(read_fd)
            return _crashed(f"cannot start the worker: {error}", start)
        finally:
            os.close(write_fd)
            os.close(stats_fd)
        try:
            return self._collect(process, read_fd, private / "log", code, start)
        finally:
            os.close(read_fd)

    def _collect(self, process: subprocess.Popen, read_fd: int, log: Path, code: str,
                 start: float) -> SandboxResult:
        channel = _Channel(read_fd, MAX_RESULT_BYTES)
        ready_line = channel.line(start + self.limits.startup_seconds)
        ready_at = time.monotonic()
        result_line = channel.line(ready_at + self.limits.wall_seconds) \
            if isinstance(ready_line, bytes) else ready_line
        status, rusage = _kill_and_reap(process, grace=result_line != "timeout")
        elapsed = time.monotonic() - start
        ready = _parse_ready(ready_line)
        if ready is None:
            problem = f"did not start within {self.limits.startup_seconds:g} s" \
                if ready_line == "timeout" else f"failed to start ({_exit_text(status)})"
            return _crashed(f"the worker {problem} before running the candidate: "
                            f"{_log_tail(log)}", start)
        startup = ready_at - start
        layers, cpu_limit, self.isolation, allowed = ready
        if not allowed:
            missing = "; ".join(f"{k}: {v}" for k, v in self.isolation.missing.items())
            raise TapqError(f"the sandbox cannot isolate generated code here ({missing}); "
                            "the candidate was not run (pass --allow-unisolated to run it "
                            "anyway)")
        outcome = _parse_outcome(result_line, layers, len(self.bit_choices))
        if outcome is not None:
            return SandboxResult(outcome.get("table"), outcome["status"], outcome["error"],
                                 elapsed, startup, outcome.get("seconds", math.nan))
        where = _where(log, code)
        cpu = rusage.ru_utime + rusage.ru_stime if rusage else 0.0
        if result_line == "timeout":
            reason = (f"no result within the wall-clock time limit of "
                      f"{self.limits.wall_seconds:g} s"
                      f"{where}")
            return SandboxResult(None, "timeout", _short(reason), elapsed, startup)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL) \
                and cpu >= cpu_limit:
            reason = f"CPU time limit of {self.limits.cpu_seconds} s exceeded{where}"
            return SandboxResult(None, "timeout", _short(reason), elapsed, startup)
        tail = _log_tail(log)
        kind = "memory" if re.search(r"MemoryError|bad_alloc|allocate memory", tail) else "crashed"
        problem = "sent an oversized result" if result_line == "overflow" else \
            "sent a malformed result" if isinstance(result_line, bytes) else _exit_text(status)
        return SandboxResult(None, kind, _short(f"the worker {problem}{where}"
                                                + (f"; log: {tail}" if tail else "")),
                             elapsed, startup)


class _Channel:
    """Lines from the worker's result pipe, with deadlines and a size cap."""

    def __init__(self, fd: int, limit: int):
        self.fd, self.limit, self.buffer = fd, limit, bytearray()
        self.poll = select.poll()
        self.poll.register(fd, select.POLLIN)

    def line(self, deadline: float) -> bytes | str:
        """The next line, or ``"eof"``, ``"timeout"`` or ``"overflow"``."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            if not self.poll.poll(max(1, int(remaining * 1000))):
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return "eof"
            self.buffer += chunk
            if len(self.buffer) > self.limit:
                return "overflow"
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        return line


def _kill_and_reap(process: subprocess.Popen, grace: bool) -> tuple[int, object]:
    """SIGKILL the worker's whole process group, then reap it: (wait status, rusage).

    A worker that has closed its pipe gets a moment to exit by itself (so its own exit
    status is reported); it is not reaped before the kill, so the group id stays ours.
    """
    deadline = time.monotonic() + (0.5 if grace else 0.0)
    try:
        while time.monotonic() < deadline and os.waitid(
                os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            time.sleep(0.005)
    except ChildProcessError:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # before reaping, so the group id is still ours
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + 10
    try:
        while True:
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                return status, rusage
            if time.monotonic() > deadline:  # stuck in the kernel; leave it rather than hang
                return 0, None
            time.sleep(0.01)
    except ChildProcessError:  # reaped by someone else (a SIGCHLD handler of the host)
        return 0, None


def _parse_ready(line: bytes | str) -> tuple[int, float, Isolation, bool] | None:
    """(layers, the CPU-seconds mark where the candidate's limit ends, the isolation the
    worker observed, whether it goes on to run the candidate) from the ready line."""
    try:
        ready = json.loads(line)
        if not isinstance(ready.get("ready"), bool) or not isinstance(ready["isolation"], dict):
            return None
        return (int(ready["layers"]), float(ready["cpu_limit"]),
                Isolation.from_report(ready["isolation"]), ready["ready"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def _parse_outcome(line: bytes | str, layers: int, columns: int) -> dict | None:
    """The worker's outcome, checked; None when the line is not a valid outcome."""
    try:
        outcome = json.loads(line)
        status, error = outcome["status"], _short(str(outcome.get("error", "")))
        if status not in STATUSES:
            return None
        if status != "ok":
            return {"status": status, "error": error or f"the candidate's status is {status}"}
        table = np.array(outcome["table"], dtype=np.float64)
        if table.shape != (layers, columns) or not np.isfinite(table).all():
            return None
        return {"status": "ok", "error": "", "table": table,
                "seconds": float(outcome.get("seconds", math.nan))}
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def _where(log: Path, code: str) -> str:
    """' while running line N: `source`' from the worker's faulthandler dump, if any."""
    match = _LINE.search(_read_tail(log, 16384))
    lines = code.splitlines()
    if not match or not 0 < int(match.group(1)) <= len(lines):
        return ""
    line = int(match.group(1))
    return f" while running line {line}: `{lines[line - 1].strip()[:120]}`"


def _read_tail(path: Path, size: int) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - size))
            return file.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _log_tail(log: Path) -> str:
    lines = [line.strip() for line in _read_tail(log, 4096).splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.waitstatus_to_exitcode(status)} without a result"


def _crashed(reason: str, start: float) -> SandboxResult:
    return SandboxResult(None, "crashed", _short(reason), time.monotonic() - start)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


def sandboxed_proxy_table(code: str, stats: Sequence, bit_choices: Sequence[int],
                          limits: SandboxLimits = SandboxLimits()) -> np.ndarray:
    """The proxy table of `code` on `stats`, computed in the sandbox.

    Raises:
        TapqError: one line saying why the code was rejected or failed.
    """
    with tempfile.TemporaryDirectory(prefix="tapq-stats-") as folder:
        path = Path(folder) / "stats.pt"
        save_stats_for_sandbox(stats, path, bit_choices)
        result = Sandbox(path, bit_choices, limits).table(code)
    if result.isolation is not None and not result.isolation.isolated:
        print(f"tapq: warning: proxy code ran {result.isolation.describe()}", file=sys.stderr)
    if result.status != "ok":
        raise TapqError(f"proxy {result.status} in the sandbox: {result.error}")
    return result.table
