"""The statistics a worker reads: written once, sealed in memory, verified on every use.

A candidate must not be able to change what the next candidate sees. The parent reads the
statistics file once, checks its SHA-256 (against the digest the caller expects, when
given), and copies the bytes into a memfd sealed against every write, shrink and growth:
no process, the candidate's included, can alter them afterwards, and no file under /tmp
is reused across runs or users. Each worker gets that descriptor; before each one starts,
the parent hashes the memfd again and refuses to go on if anything differs.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import torch

from tapq.errors import TapqError
from tapq.quant import FULL_PRECISION

__all__ = ["STATS_FORMAT", "SealedStats", "save_stats_for_sandbox"]

# Version of the statistics file handed to workers (the statistics cache's format plus
# pre-quantized weights): bump with any change to what the worker reads.
# 2: network context, patches, activation ranges, PTQ weights, delta_loss.
STATS_FORMAT = 2
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def save_stats_for_sandbox(stats: Sequence, path: str | Path,
                           bits: Sequence[int] = ()) -> None:
    """Write `stats` (``tapq.proxies.LayerStats``, or any dataclass with their fields and
    ``quant``) for the sandbox worker, with the quantized weights at `bits` included (so
    the worker need not recompute them for every candidate).

    The format is the statistics cache's (``{"version", "layers": [field dicts]}``) plus a
    ``quant`` table per layer; the worker builds its LayerStats from those fields.
    """
    layers = []
    for layer in stats:
        record = {f.name: getattr(layer, f.name) for f in fields(layer) if f.compare}
        record["quant"] = {int(b): layer.quant(b) for b in bits if b < FULL_PRECISION}
        layers.append(record)
    torch.save({"version": STATS_FORMAT, "layers": layers}, Path(path))


class SealedStats:
    """Statistics bytes in a sealed memfd, with their SHA-256.

    Args:
        data: the bytes of a file written by save_stats_for_sandbox.
        digest: the SHA-256 (hex) they must have; None accepts them as they are.
    """

    def __init__(self, data: bytes, digest: str | None = None):
        self.digest = hashlib.sha256(data).hexdigest()
        if digest is not None and digest != self.digest:
            raise TapqError(f"the statistics do not match their digest ({self.digest[:16]} "
                            f"instead of {digest[:16]}); refusing to use them")
        self.size = len(data)
        self.fd = os.memfd_create("tapq-stats", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, _SEALS)

    @classmethod
    def from_file(cls, path: str | Path, digest: str | None = None) -> "SealedStats":
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise TapqError(f"cannot read the statistics {path}: {error.strerror}") from None
        return cls(data, digest)

    def verify(self) -> None:
        """Hash the sealed bytes again; TapqError if they are not what was sealed."""
        sha, offset = hashlib.sha256(), 0
        while chunk := os.pread(self.fd, 1 << 20, offset):
            sha.update(chunk)
            offset += len(chunk)
        seals = fcntl.fcntl(self.fd, fcntl.F_GET_SEALS)
        if sha.hexdigest() != self.digest or offset != self.size or seals & _SEALS != _SEALS:
            raise TapqError("the statistics handed to the sandbox changed; refusing to go on")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self):
        self.close()
