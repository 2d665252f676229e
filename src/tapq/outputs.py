"""Output files: checked before the work starts, then written whole or not at all.

A command that will write ``--out FILE`` checks it with `check_output_file` first, so a
typo in a path fails in a second rather than after an hour of measurements; the file is
then written through `atomic_path`, so a crash or a full disk never leaves half a file
where a good one (or none) was.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tapq.errors import TapqError

__all__ = ["atomic_path", "check_output_file", "check_output_folder", "write_text_atomic"]


def check_output_file(path: str | Path, flag: str) -> Path:
    """Raise TapqError unless `path` can be written as a file: not a folder, and in an
    existing, writable folder. `flag` names the option in the message."""
    path = Path(path)
    if path.is_dir():
        raise TapqError(f"{flag} {path} is a folder; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise TapqError(f"{flag} {path}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise TapqError(f"{flag} {path}: the folder {parent} is not writable")
    return path


def check_output_folder(path: str | Path, flag: str) -> Path:
    """Raise TapqError unless `path` is a folder or can be created as one."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            raise TapqError(f"{flag} {path}: {folder} is a file, not a folder")
        if folder.is_dir():
            if not os.access(folder, os.W_OK):
                raise TapqError(f"{flag} {path}: the folder {folder} is not writable")
            break
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends normally it is renamed onto
    `path` (atomic on one file system), when it raises it is removed."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file (never half-written)."""
    with atomic_path(path) as partial:
        partial.write_text(text)
