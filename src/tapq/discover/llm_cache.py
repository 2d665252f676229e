"""Every LLM request and answer, kept by hash, so a discovery run can be replayed exactly.

    cache = ResponseCache(sqlite3.connect("run.db"))        # may share the run's database
    llm = CachedBackend(make_backend("embedded"), cache)
    llm.complete(messages, temperature=0.8, max_tokens=400, seed=7)   # asks the model
    llm.complete(messages, temperature=0.8, max_tokens=400, seed=7)   # replayed, cached=True

The key is the SHA-256 of the canonical JSON of the model identity, the messages,
temperature, max_tokens, seed and stop strings. The identity is the backend's `name` up to
any ``@address``: the same model served from another port or host replays the same answers.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from tapq.discover.llm import Completion, LLMBackend, LLMError

__all__ = ["CachedBackend", "ResponseCache", "model_identity", "request_key"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY, request TEXT, text TEXT, prompt_tokens INT, completion_tokens INT,
    seconds REAL, model TEXT, created REAL)"""


def _canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def model_identity(backend_name: str) -> str:
    """The part of a backend's name that says which model answers (not where it runs)."""
    return backend_name.split("@", 1)[0]


def request_key(request: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of a request."""
    return hashlib.sha256(_canonical_json(request).encode()).hexdigest()


class ResponseCache:
    """LLM answers by request hash, in table ``llm_cache`` of an SQLite connection.

    Each `put` is committed at once, so answers paid for survive a killed run.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.conn.execute(_SCHEMA)
        self.conn.commit()

    @classmethod
    def open(cls, path: str | Path) -> ResponseCache:
        """A cache in the SQLite file at `path` (created if missing)."""
        return cls(sqlite3.connect(str(path)))

    def get(self, key: str) -> Completion | None:
        """The stored answer for `key` (marked ``cached=True``), or None."""
        row = self.conn.execute(
            "SELECT text, prompt_tokens, completion_tokens, seconds, model FROM llm_cache "
            "WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        text, prompt_tokens, completion_tokens, seconds, model = row
        return Completion(text, prompt_tokens, completion_tokens, seconds, model, cached=True)

    def put(self, key: str, request: dict, completion: Completion) -> None:
        """Store `completion` as the answer to `request` and commit."""
        self.conn.execute(
            "INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, _canonical_json(request), completion.text, completion.prompt_tokens,
             completion.completion_tokens, completion.seconds, completion.model, time.time()))
        self.conn.commit()

    def __len__(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0]


class CachedBackend:
    """A backend that answers from `cache` when it can and records every new answer.

    Args:
        backend: the backend asked on a miss.
        cache: where answers are kept.
        replay_only: raise `LLMError` on a miss instead of asking the backend, to prove
            that a run is replayed exactly.
    """

    def __init__(self, backend: LLMBackend, cache: ResponseCache, replay_only: bool = False):
        self.backend, self.cache, self.replay_only = backend, cache, replay_only
        self.name = backend.name

    def complete(self, messages: list[dict], temperature: float, max_tokens: int, seed: int,
                 stop: list[str] | None = None) -> Completion:
        """The cached answer to this exact request, else the backend's (then stored)."""
        request = {"model": model_identity(self.backend.name), "messages": messages,
                   "temperature": float(temperature), "max_tokens": int(max_tokens),
                   "seed": int(seed), "stop": list(stop) if stop else None}
        key = request_key(request)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if self.replay_only:
            raise LLMError(f"request {key[:12]} is not in the cache: "
                           "this run cannot be replayed without the LLM")
        completion = self.backend.complete(messages, temperature, max_tokens, seed, stop)
        self.cache.put(key, request, completion)
        return replace(completion, cached=False)
