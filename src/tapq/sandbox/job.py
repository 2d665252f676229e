"""Candidate evaluation as a job any executor can run: here, in a pool process or on Ray.

A `SandboxJob` carries the statistics' bytes and their SHA-256 rather than a path, because
a Ray node need not share this machine's files. The first job a process runs seals those
bytes in memory (stats_file.SealedStats, checked against the digest; once per digest and
process, never a file another user or run could swap), and every job then runs the
candidate in the ordinary `Sandbox`, with the same isolation as anywhere else. The
statistics of a benchmark are a megabyte or two; Ray ships them once per run through its
object store (see RayExecutor), a local pool once per candidate.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tapq.sandbox.runner import Sandbox, SandboxLimits, SandboxResult
from tapq.sandbox.stats_file import SealedStats

__all__ = ["SandboxJob"]

_SEALED: dict[str, SealedStats] = {}  # this process's sealed statistics, by digest


@dataclass(frozen=True, eq=False)
class SandboxJob:
    """`job(code)` is ``Sandbox(stats, bit_choices, limits).table(code)`` wherever it runs.

    Attributes:
        stats: the bytes of a file written by save_stats_for_sandbox.
        bit_choices: the bit-widths of the table's columns.
        limits: resource limits per candidate.
        digest: the SHA-256 the bytes must have (from_file computes it).
    """

    stats: bytes
    bit_choices: tuple[int, ...]
    limits: SandboxLimits
    digest: str | None = None

    @classmethod
    def from_file(cls, stats_path: str | Path, bit_choices, limits: SandboxLimits
                  ) -> SandboxJob:
        data = Path(stats_path).read_bytes()
        return cls(data, tuple(bit_choices), limits, hashlib.sha256(data).hexdigest())

    def __call__(self, code: str) -> SandboxResult:
        return Sandbox(self._sealed(), self.bit_choices, self.limits).table(code)

    def _sealed(self) -> SealedStats:
        digest = self.digest or hashlib.sha256(self.stats).hexdigest()
        if digest not in _SEALED:
            _SEALED[digest] = SealedStats(self.stats, digest)
        return _SEALED[digest]
