"""The sandbox worker: runs one candidate proxy under limits and reports its table.

Started by ``tapq.sandbox.Sandbox`` as ``python -I worker.py RESULT_FD
STATS_FD``, in its own session, with a scrubbed environment, the job (JSON: code, bit
choices, limits, the parent's sys.path) on stdin and stdout/stderr going to a log file.
It runs as a script, not with ``-m``: ``-m`` would import ``tapq/__init__`` (scipy, the
data sets, the model zoo), 1.4 s more per candidate. The module imports only the
standard library at the top, so the parent can import it for the policy below.

Phases, in order:

1. Trusted setup, as started (possibly root): import numpy, torch and the quantizer,
   load the statistics from STATS_FD and pre-quantize their weights; then best-effort
   isolation (private network namespace, private tmpfs over /tmp, /var/tmp, /dev/shm
   unless the Python environment lives there).
2. Lock-down: drop to nobody when root, then RLIMIT_AS / CPU / FSIZE / NPROC=0 / CORE=0,
   and Python-level stdout/stderr replaced by a capped buffer. From here on no file can
   be imported (the interpreter itself may be unreadable to nobody), so everything the
   candidate may use is imported in phase 1.
3. Candidate: ``{"ready": ...}`` is written to RESULT_FD, then the code is compiled and
   run with safe builtins and an import hook that hands out read-only views of the
   allow-listed modules, and ``sensitivity`` is called once per (layer, bits) on a fresh
   private copy of the layer with freshly seeded RNGs, so the table never depends on the
   evaluation order or on in-place edits. The outcome is one JSON line on RESULT_FD.
"""
from __future__ import annotations

import builtins
import dataclasses
import faulthandler
import importlib
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

# --- the policy, shared with the static screen in screen.py --------------------------
ALLOWED_MODULES = frozenset({
    "math", "numpy", "numpy.linalg", "numpy.fft", "numpy.random",
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg", "torch.fft",
    "torch.special", "torch.autograd"})
# Attribute names refused on any object: file I/O, pickles, code loading, process and
# thread control, modules that torch and numpy re-export (torch.os, torch.sys ...), and
# the introspection that leads from an object back to the interpreter.
DENIED_ATTRIBUTES = frozenset({
    "load", "save", "from_file", "hub", "ops", "library", "jit", "compile", "compiler",
    "utils", "classes", "multiprocessing", "distributed", "backends", "serialization",
    "package", "fx", "onnx", "export", "profiler", "testing", "overrides", "cuda", "mps",
    "xpu", "mtia", "cpp", "storage", "untyped_storage", "share_memory_", "set_",
    "set_default_tensor_type", "type", "set_num_threads", "set_num_interop_threads",
    "fromfile", "tofile", "memmap", "ctypeslib", "lib", "loadtxt", "savetxt", "genfromtxt",
    "fromregex", "savez", "savez_compressed", "DataSource", "dump", "dumps", "f2py",
    "distutils", "ctypes", "os", "sys", "subprocess", "builtins", "importlib", "shutil",
    "socket", "pickle", "io", "pathlib", "tempfile", "inspect", "signal", "threading",
    "platform", "glob", "types", "functools", "warnings", "mro", "format", "format_map",
    "CompilationUnit", "LiteScriptModule", "ScriptModule", "ScriptFunction", "ScriptMethod",
    "ScriptClass", "ScriptObject", "ScriptModuleSerializer", "PyTorchFileReader",
    "PyTorchFileWriter", "SerializationStorageContext", "DeserializationStorageContext",
    "import_ir_module", "import_ir_module_from_buffer", "parse_ir", "FileCheck",
    "get_file_path", "prepare_multiprocessing_environment", "fork", "wait"})
DENIED_PREFIXES = ("_", "gi_", "cr_", "ag_", "f_", "tb_", "co_")
SAFE_BUILTINS = (
    "abs", "all", "any", "bool", "callable", "chr", "complex", "dict", "divmod", "enumerate",
    "filter", "float", "frozenset", "int", "isinstance", "issubclass", "iter", "len", "list",
    "map", "max", "min", "next", "ord", "pow", "print", "range", "repr", "reversed", "round",
    "set", "slice", "sorted", "str", "sum", "tuple", "zip", "ArithmeticError",
    "AssertionError", "AttributeError", "Exception", "FloatingPointError", "IndexError",
    "KeyError", "LookupError", "NameError", "NotImplementedError", "OverflowError",
    "RuntimeError", "StopIteration", "TypeError", "ValueError", "ZeroDivisionError")
CANDIDATE_FILE = "<candidate>"
NOBODY = 65534
_CLONE_NEWNS, _CLONE_NEWNET = 0x00020000, 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
_MS_RDONLY, _MS_REMOUNT, _MS_BIND = 0x1, 0x20, 0x1000


def attribute_allowed(name: str) -> bool:
    """Whether candidate code may read attribute `name` (of anything)."""
    return not name.startswith(DENIED_PREFIXES) and name not in DENIED_ATTRIBUTES


class SafeModule:
    """An allow-listed module as candidate code sees it: read-only, with denied names,
    private names and modules outside ALLOWED_MODULES hidden (torch.os, numpy.lib ...)."""

    __slots__ = ("_module",)

    def __init__(self, module: types.ModuleType):
        object.__setattr__(self, "_module", module)

    def __getattr__(self, name: str):
        module = object.__getattribute__(self, "_module")
        # No __name__ either: IMPORT_FROM would use it to fetch hidden modules from sys.modules.
        if not attribute_allowed(name):
            raise AttributeError(f"{module.__name__}.{name} is not available to a proxy")
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            if value.__name__ not in ALLOWED_MODULES:
                raise AttributeError(f"module {value.__name__} is not available to a proxy")
            return SafeModule(value)
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("modules are read-only in a proxy")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("modules are read-only in a proxy")

    def __repr__(self) -> str:
        return f"<module {object.__getattribute__(self, '_module').__name__!r}>"


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if type(fromlist) is list and not fromlist and level == 0 and \
            name.startswith(("numpy.", "torch.")):
        # C code of numpy/torch importing its own internals (PyImport_Import passes an empty
        # list, which no import statement can): it gets the real module, the candidate not.
        return builtins.__import__(name, globals, locals, fromlist, level)
    if level != 0 or name not in ALLOWED_MODULES:
        raise ImportError(f"import of {name!r} is not allowed; a proxy may import only "
                          "math, numpy and torch")
    module = SafeModule(sys.modules[name if fromlist else name.partition(".")[0]])
    for item in fromlist or ():
        try:  # here, not in IMPORT_FROM, whose message would hide the reason
            getattr(module, item)
        except AttributeError as error:
            raise ImportError(f"cannot import {item!r} from {name}: {error}") from None
    return module


def safe_builtins() -> dict:
    """The builtins candidate code runs with: pure functions, no I/O or introspection."""
    table = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    table["__import__"] = _guarded_import
    return table


# --- phase 1: trusted setup -------------------------------------------------------------
def _isolate() -> list[str]:
    """Best effort, root only: no network, and private tmpfs over the world-writable dirs,
    so code that escaped the language-level checks can neither connect out nor leave files."""
    if os.geteuid() != 0:
        return []
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    applied = ["network"] if libc.unshare(_CLONE_NEWNET) == 0 else []
    if libc.unshare(_CLONE_NEWNS) == 0 and \
            libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0:
        # A dir holding the Python environment or tapq itself (a venv under /tmp, say)
        # stays visible, since hiding it would break a late lazy load of a shared
        # library, but read-only in this namespace, so nothing can be left in it.
        needed = [os.path.realpath(p) for p in [*sys.path, __file__] if os.path.isabs(p)]
        for path in ("/tmp", "/var/tmp", "/dev/shm"):
            if not os.path.isdir(path):
                continue
            target = path.encode()
            if any(n == path or n.startswith(path + "/") for n in needed):
                if libc.mount(target, target, None, _MS_BIND | _MS_REC, None) == 0 and \
                        libc.mount(None, target, None,
                                   _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None) == 0:
                    applied.append(f"{path} (read-only)")
            elif libc.mount(b"tmpfs", target, b"tmpfs", _MS_NOSUID | _MS_NODEV,
                            b"size=1m,mode=1777") == 0:
                applied.append(path)
    return applied


def _import_quantizers() -> types.ModuleType:
    """tapq.quant.quantizers without running tapq's package __init__ files (stubs stand in)."""
    package = Path(__file__).resolve().parent.parent
    for name, folder in (("tapq", package), ("tapq.quant", package / "quant")):
        stub = types.ModuleType(name)
        stub.__path__ = [str(folder)]
        sys.modules[name] = stub
    importlib.import_module("tapq.errors")  # check_bits imports it lazily
    return importlib.import_module("tapq.quant.quantizers")


def _layer_class(names: list[str], q: types.ModuleType) -> type:
    """A frozen stand-in for tapq.proxies.stats.LayerStats: same fields, same quant()."""

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
        namespace={"quant": quant, "__repr__": __repr__})


def _warm_up(np: types.ModuleType, torch: types.ModuleType) -> None:
    """Run what lazily imports more modules on first use (printing, numpy reductions),
    while files can still be read."""
    a = np.arange(4.0)
    repr(a), a.sum(), a.mean(), a.std(), a.min(), a.max(), np.percentile(a, 50), np.median(a)
    t = torch.arange(4.0)
    repr(t), t.numpy(), torch.quantile(t, 0.5), torch.linalg.svdvals(t.reshape(2, 2))


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
    with os.fdopen(stats_fd, "rb") as file:
        records = torch.load(file, weights_only=True)["layers"]
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


def lock_down(limits: dict) -> CappedText:
    """Drop to nobody (when root) and apply the resource limits to this process."""
    space = _address_space() + limits["memory_mb"] * 2 ** 20
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
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


def _run_candidate(job: dict, setup: tuple, output: CappedText) -> dict:
    np, torch, layer_class, layers = setup
    code, bits, limits = job["code"], job["bits"], job["limits"]
    lines, where = code.splitlines(), "while loading the code"
    start = time.perf_counter()
    try:
        namespace = {"__builtins__": safe_builtins(), "__name__": "candidate"}
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
                layer = layer_class(**{k: v.clone() if isinstance(v, torch.Tensor) else v
                                       for k, v in record.items()},
                                    _quant={k: t.clone() for k, t in tables.items()})
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


def main(argv: list[str]) -> None:
    result_fd, stats_fd = int(argv[1]), int(argv[2])
    channel = os.fdopen(result_fd, "w", encoding="utf-8")
    faulthandler.enable(sys.__stderr__)
    job = json.loads(sys.stdin.buffer.read())
    setup = _setup(job, stats_fd)  # imports first: the environment may live under /tmp
    isolation = _isolate()
    # Dumps where the candidate is just before the parent's wall-clock kill; its watchdog
    # thread must start before RLIMIT_NPROC=0 forbids new threads.
    wall = job["limits"]["wall_seconds"]
    faulthandler.dump_traceback_later(max(wall - 0.3, 0.1), file=sys.__stderr__)
    output = lock_down(job["limits"])
    cpu_limit = resource.getrlimit(resource.RLIMIT_CPU)[0]
    channel.write(json.dumps({"ready": True, "layers": len(setup[3]), "cpu_limit": cpu_limit,
                              "isolation": isolation}) + "\n")
    channel.flush()
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
