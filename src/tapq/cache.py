"""Where tapq keeps what it can rebuild: statistics, decoded images, retrained weights,
the joined embedded LLM.

One place for the location, below every stage, so that data, models, statistics and the
LLM share it without importing each other. The folder is private: created 0700, and
refused unless it is a real folder owned by us that nobody else may write or enter, since
what it holds is loaded back (statistics that proxies read, weights, the LLM) and a
folder another user could write (``TAPQ_CACHE=/tmp/...``) would let them choose it.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from tapq.errors import TapqError

__all__ = ["cache_dir", "private_dir"]


def private_dir(path: str | Path) -> Path:
    """`path` as a folder only we can use: created 0700 if missing, tightened to 0700 if
    ours; TapqError if it (or a link naming it) is someone else's or not a folder."""
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        link, info = os.lstat(path), os.stat(path)
    except OSError as error:
        raise TapqError(f"cannot create the cache folder {path}: {error.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise TapqError(f"cache folder {path} is not a folder; set TAPQ_CACHE to a private "
                        "folder")
    for what in (link, info):  # a link planted by someone else, or their folder
        if what.st_uid != os.geteuid():
            raise TapqError(f"cache folder {path} belongs to uid {what.st_uid}, not to us "
                            f"({os.geteuid()}); set TAPQ_CACHE to a folder of your own")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def cache_dir() -> Path:
    """Where tapq keeps what it rebuilds (``$TAPQ_CACHE``, default ``~/.cache/tapq``),
    private to the user (see private_dir)."""
    return private_dir(os.environ.get("TAPQ_CACHE", Path.home() / ".cache" / "tapq"))
