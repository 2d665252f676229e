"""Candidate evaluation as a job any executor can run: here, in a pool process or on Ray.

A `SandboxJob` carries the statistics' bytes rather than a path, because a Ray node need
not share this machine's files: the first job a process runs writes them to that
process's own temporary folder (once per statistics hash), and every job then runs the
candidate in the ordinary `Sandbox`, with the same isolation as anywhere else. The
statistics of a benchmark are a megabyte or two; Ray ships them once per run through its
object store (see RayExecutor), a local pool once per candidate.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tapq.sandbox.runner import Sandbox, SandboxLimits, SandboxResult

__all__ = ["SandboxJob"]


@dataclass(frozen=True, eq=False)
class SandboxJob:
    """`job(code)` is ``Sandbox(stats, bit_choices, limits).table(code)`` wherever it runs.

    Attributes:
        stats: the bytes of a file written by save_stats_for_sandbox.
        bit_choices: the bit-widths of the table's columns.
        limits: resource limits per candidate.
    """

    stats: bytes
    bit_choices: tuple[int, ...]
    limits: SandboxLimits

    @classmethod
    def from_file(cls, stats_path: str | Path, bit_choices, limits: SandboxLimits
                  ) -> "SandboxJob":
        return cls(Path(stats_path).read_bytes(), tuple(bit_choices), limits)

    def __call__(self, code: str) -> SandboxResult:
        return Sandbox(self._local_stats(), self.bit_choices, self.limits).table(code)

    def _local_stats(self) -> Path:
        """This process's copy of the statistics (written atomically, once)."""
        digest = hashlib.sha256(self.stats).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"tapq-stats-{os.getuid()}" / f"{digest}.pt"
        if not path.is_file():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(self.stats)
            os.replace(partial, path)
        return path
