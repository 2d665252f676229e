"""The sandbox worker: runs one candidate proxy behind the OS boundary and reports its table.

Started by ``tapq.sandbox.Sandbox`` as ``python -I worker.py RESULT_FD STATS_FD``, in its
own session, with an environment built from nothing, the job (JSON: code, bit choices,
limits, the parent's sys.path, what isolation is required) on stdin and stdout/stderr
going to a log file; ``python -I worker.py --probe`` only builds the boundary and reports
it (isolation.py). It runs as a script, not with ``-m``: ``-m`` would import
``tapq/__init__`` (scipy, the data sets, the model zoo), 1.4 s more per candidate; tapq's
packages stand in as bare stubs, so only the modules it names are imported.

Phases, in order:

1. Trusted setup, as started: import numpy, torch and the quantizer, load the statistics
   from STATS_FD (a sealed memfd) and pre-quantize their weights.
2. Boundary (isolation.py): namespace jail, capabilities dropped, Landlock, the wall-clock
   watchdog thread, seccomp, then RLIMIT_AS / CPU / FSIZE / NPROC=0 / CORE=0 and a capped
   stdout/stderr; then ``verify`` tries what an escaped candidate would. If a requirement
   does not hold and the job requires isolation, the worker says so and stops here,
   before any candidate code runs.
3. Candidate: ``{"ready": ...}`` (with the isolation observed) is written to RESULT_FD,
   then the code is compiled and run with safe builtins and an import hook that hands out
   read-only views of the allow-listed modules (policy.py; both off when the job says
   ``guards: false``, for testing the OS layer alone), and ``sensitivity`` is called once
   per (layer, bits) on a fresh private copy of the layer with freshly seeded RNGs, so
   the table never depends on the evaluation order or on in-place edits. The outcome is
   one JSON line on RESULT_FD.
"""
from __future__ import annotations

import builtins
import dataclasses
import faulthandler
import importlib
import io
import json
import math
import numbers
import os
import resource
import signal
import sys
import time
import traceback
import types
from pathlib import Path

if __name__ == "__main__":  # tapq, tapq.sandbox and tapq.quant as bare packages
    for _name, _folder in (("tapq", ".."), ("tapq.sandbox", "."), ("tapq.quant", "../quant")):
        sys.modules[_name] = types.ModuleType(_name)
        sys.modules[_name].__path__ = [str((Path(__file__).resolve().parent / _folder)
                                           .resolve())]

from tapq.sandbox import isolation  # standard library only, like policy
from tapq.sandbox.policy import ALLOWED_MODULES, CANDIDATE_FILE, safe_builtins


# --- phase 1: trusted setup -------------------------------------------------------------
def _import_quantizers() -> types.ModuleType:
    """tapq.quant.quantizers, imported through the bare package stubs."""
    importlib.import_module("tapq.errors")  # check_bits imports it lazily
    return importlib.import_module("tapq.quant.quantizers")


def _layer_class(names: list[str], q: types.ModuleType) -> type:
    """A frozen stand-in for tapq.proxies.stats.LayerStats: same fields, same methods
    (quant here, ptq_quant and patch_out from the module both classes share)."""
    methods = importlib.import_module("tapq.sandbox.layer_methods")

    def quant(self, bits: int):
        """The de-quantized weight at `bits`: PTQ's round-to-nearest with MSE clipping."""
        bits = q.check_bits(bits)
        if bits >= q.FULL_PRECISION:
            return self.weight
        if bits not in self._quant:
            scale = q.weight_scale(self.weight, bits, "mse")
            self._quant[bits] = q.fake_quant_weight(self.weight, scale, bits)
        return self._quant[bits]

    def __repr__(self) -> str:
        return (f"LayerStats(name={self.name!r}, kind={self.kind!r}, index={self.index}, "
                f"num_params={self.num_params}, macs={self.macs}, "
                f"hessian_trace={self.hessian_trace:.4g}, hessian_eig={self.hessian_eig:.4g})")

    return dataclasses.make_dataclass(
        "LayerStats", [*names, ("_quant", dict)], frozen=True, eq=False,
        namespace={"quant": quant, "ptq_quant": methods.ptq_quant,
                   "patch_out": methods.patch_out, "__repr__": __repr__})


def _warm_up(np: types.ModuleType, torch: types.ModuleType) -> None:
    """Run what lazily imports more modules on first use (printing, numpy reductions),
    while files can still be read."""
    a = np.arange(4.0)
    repr(a), a.sum(), a.mean(), a.std(), a.min(), a.max(), np.percentile(a, 50), np.median(a)
    t = torch.arange(4.0)
    repr(t), t.numpy(), torch.quantile(t, 0.5), torch.linalg.svdvals(t.reshape(2, 2))


def _read_all(fd: int) -> bytes:
    """The whole file behind `fd` from offset 0 (pread: its offset is shared with the
    parent, which hands the same sealed memfd to every worker)."""
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)  # fd stays open: sealed, it is no way out


def _setup(job: dict, stats_fd: int) -> tuple:
    sys.path.extend(p for p in job["path"] if os.path.isabs(p) and p not in sys.path)
    import numpy
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    # Unchecked sparse tensors can index out of bounds in native code (torch's default
    # trusts their indices for speed).
    torch.sparse.check_sparse_tensor_invariants.enable()
    for name in sorted(ALLOWED_MODULES):
        importlib.import_module(name)
    _warm_up(numpy, torch)
    q = _import_quantizers()
    records = torch.load(io.BytesIO(_read_all(stats_fd)), weights_only=True)["layers"]
    layers = []
    for record in records:
        tables = dict(record.pop("quant", {}))
        for bits in job["bits"]:
            if bits < q.FULL_PRECISION and bits not in tables:
                scale = q.weight_scale(record["weight"], bits, "mse")
                tables[bits] = q.fake_quant_weight(record["weight"], scale, bits)
        layers.append((record, tables))
    layer_class = _layer_class(list(records[0]) if records else [], q)
    return numpy, torch, layer_class, layers


# --- phase 2: lock-down ---------------------------------------------------------------
class CpuLimit(BaseException):
    """Raised in the candidate when its CPU time is up (BaseException: a plain
    ``except Exception`` in candidate code must not swallow it)."""


def _on_cpu_limit(signum, frame):
    raise CpuLimit()


class CappedText:
    """A text stream keeping the first `limit` characters: print floods cost nothing."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.size = limit, [], 0

    def write(self, text: str) -> int:
        if self.size < self.limit:
            self.parts.append(str(text)[:self.limit - self.size])
        self.size += len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "".join(self.parts)


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def lock_down(limits: dict, address_space: int) -> CappedText:
    """Apply the resource limits to this process (`address_space`: its use so far)."""
    space = address_space + limits["memory_mb"] * 2 ** 20
    # The exact limit is a one-shot CPU-time timer (SIGPROF); RLIMIT_CPU, which counts
    # whole seconds of the process, sends SIGXCPU a second later (a second chance for a
    # candidate that swallowed the first) and SIGKILL a second after that.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(usage.ru_utime + usage.ru_stime + limits["cpu_seconds"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (space, space))
    size = limits["file_size_mb"] * 2 ** 20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the cap fail, not kill
    signal.signal(signal.SIGXCPU, _on_cpu_limit)
    signal.signal(signal.SIGPROF, _on_cpu_limit)
    signal.setitimer(signal.ITIMER_PROF, limits["cpu_seconds"])
    sys.stdout = sys.stderr = CappedText(limits["output_kb"] * 1024)
    return sys.stdout


# --- phase 3: the candidate -----------------------------------------------------------
class BadValue(Exception):
    """sensitivity returned something that is not one finite real number."""


def _finite(value, np, torch) -> float:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if value.ndim != 0:
            raise BadValue(f"a {type(value).__name__} of shape {tuple(value.shape)}, not one "
                           "number (reduce it, e.g. float(x.sum()))")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise BadValue(f"{type(value).__name__}, not a real number")
    value = float(value)
    if not math.isfinite(value):
        raise BadValue(f"{value}, not a finite number")
    return value


def _line(tb) -> int | None:
    """The innermost line of candidate code in a traceback."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CANDIDATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _at(error: BaseException, lines: list[str]) -> str:
    line = _line(error.__traceback__)
    if line is None or not 0 < line <= len(lines):
        return ""
    return f" at line {line}: `{lines[line - 1].strip()[:120]}`"


def _message(error: BaseException) -> str:
    try:
        text = str(error)[:2000]
    except Exception:
        text = ""
    text = " ".join(text.split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _memory_error(error: BaseException) -> bool:
    text = str(error) if isinstance(error, RuntimeError) else ""
    return isinstance(error, MemoryError) or any(
        words in text for words in ("allocate memory", "not enough memory"))


def run_candidate(job: dict, setup: tuple, output: CappedText) -> dict:
    """Compile and run the code, and build the table; never raises."""
    try:
        return _run_candidate(job, setup, output)
    except BaseException as error:  # e.g. out of memory or CPU while describing an error
        return {"status": "memory" if _memory_error(error) else "error",
                "error": f"the candidate failed and its error could not be described "
                         f"({type(error).__name__})"}
    finally:  # the outcome is decided; only the hard limits remain
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        faulthandler.cancel_dump_traceback_later()


def _fresh(value, torch: types.ModuleType):
    """A private copy of a statistic (tensors cloned, tables copied), so a candidate that
    edits what it is given in place changes nothing the next call sees."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _fresh(v, torch) for k, v in value.items()}
    return value


def _run_candidate(job: dict, setup: tuple, output: CappedText) -> dict:
    np, torch, layer_class, layers = setup
    code, bits, limits = job["code"], job["bits"], job["limits"]
    lines, where = code.splitlines(), "while loading the code"
    start = time.perf_counter()
    try:
        guarded = job.get("guards", True)
        namespace = {"__builtins__": safe_builtins() if guarded else builtins,
                     "__name__": "candidate"}
        exec(compile(code, CANDIDATE_FILE, "exec"), namespace)
        sensitivity = namespace.get("sensitivity")
        if not callable(sensitivity):
            return {"status": "error",
                    "error": "the code defines no function sensitivity(layer, bits)"}
        table = []
        for record, tables in layers:
            row = []
            for b in bits:
                where = f"for layer {record['name']!r} at {b} bits"
                torch.manual_seed(0)
                np.random.seed(0)
                layer = layer_class(**{k: _fresh(v, torch) for k, v in record.items()},
                                    _quant=_fresh(tables, torch))
                value = sensitivity(layer, b)
                try:
                    row.append(_finite(value, np, torch))
                except BadValue as bad:
                    return {"status": "error", "error": f"sensitivity returned {bad} {where}"}
            table.append(row)
        return {"status": "ok", "table": table, "seconds": time.perf_counter() - start}
    except CpuLimit as error:
        return {"status": "timeout", "error": f"CPU time limit of {limits['cpu_seconds']} s "
                f"exceeded{_at(error, lines)} ({where})"}
    except BaseException as error:
        status = "memory" if _memory_error(error) else "error"
        limit = f"; the limit is {limits['memory_mb']} MB" if status == "memory" else ""
        text = f"{_message(error)}{_at(error, lines)} ({where}){limit}"
        printed = " ".join(output.text().split())[-150:]
        return {"status": status, "error": text + (f" | printed: {printed}" if printed else "")}


def _boundary(job: dict, wall: float) -> dict:
    """Phase 2 up to the resource limits; the isolation observed, as the ready line says it."""
    start = time.perf_counter()
    mechanisms, problems = isolation.isolate(job["path"], os.getcwd())
    if wall:  # dumps where the candidate is just before the parent's wall-clock kill;
        # its thread starts after Landlock (it inherits it), before seccomp forbids threads
        faulthandler.dump_traceback_later(max(wall - 0.3, 0.1), file=sys.__stderr__)
    try:
        mechanisms.append(isolation.seal())
    except OSError as error:
        problems.append(f"seccomp: {error.strerror or error}")
    return {"mechanisms": mechanisms, "problems": problems,
            "seconds": time.perf_counter() - start}


def _checked(report: dict, job: dict) -> dict:
    start = time.perf_counter()
    needed = isolation.jail.needed_paths(job["path"])
    report["missing"] = isolation.verify(os.getcwd(), job.get("outside", []), needed)
    report["seconds"] += time.perf_counter() - start
    return report


def main(argv: list[str]) -> None:
    job = json.loads(sys.stdin.buffer.read())
    if argv[1] == "--probe":  # the boundary alone, reported on stdout
        report = _boundary(job, 0.0)
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        print(json.dumps(_checked(report, job)), flush=True)
        os._exit(0)
    result_fd, stats_fd = int(argv[1]), int(argv[2])
    channel = os.fdopen(result_fd, "w", encoding="utf-8")
    faulthandler.enable(sys.__stderr__)
    setup = _setup(job, stats_fd)
    address_space = _address_space()  # before the jail hides /proc
    report = _boundary(job, job["limits"]["wall_seconds"])
    output = lock_down(job["limits"], address_space)
    report = _checked(report, job)
    cpu_limit = resource.getrlimit(resource.RLIMIT_CPU)[0]
    ready = not report["missing"] or not job.get("require_isolation", True)
    channel.write(json.dumps({"ready": ready, "layers": len(setup[3]), "cpu_limit": cpu_limit,
                              "isolation": report}) + "\n")
    channel.flush()
    if not ready:
        os._exit(0)  # no candidate code runs without the boundary, unless allowed
    outcome = run_candidate(job, setup, output)
    try:
        channel.write(json.dumps(outcome, allow_nan=False) + "\n")
        channel.flush()
    except BaseException:
        os._exit(3)
    os._exit(0)  # skip interpreter teardown: nothing of the candidate's may run after this


if __name__ == "__main__":
    try:
        main(sys.argv)
    except BaseException:  # a worker bug, not the candidate's: leave the parent a trace
        traceback.print_exc(file=sys.__stderr__)
        sys.__stderr__.flush()
        os._exit(2)
