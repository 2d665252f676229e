"""Where tapq keeps what it can rebuild: statistics, decoded images, retrained weights,
the joined embedded LLM.

One place for the location, below every stage, so that data, models, statistics and the
LLM share it without importing each other.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """Where tapq keeps what it rebuilds (``$TAPQ_CACHE``, default ``~/.cache/tapq``)."""
    return Path(os.environ.get("TAPQ_CACHE", Path.home() / ".cache" / "tapq"))
