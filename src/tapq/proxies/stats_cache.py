"""The statistics cache: each (model, batch, options) is computed once per machine.

In memory (a few entries per process) and on disk under ``cache_dir()/stats/<key>.pt``,
keyed by the architecture, every weight, the batch and every option, so a changed model
or batch is recomputed and an unreadable file is recomputed and replaced. Files are
written atomically: parallel benchmark builders never read half a file.
"""
from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

import torch
from torch import nn

from tapq.cache import cache_dir
from tapq.device import DeviceLike
from tapq.models.identity import model_digest, update_digest
from tapq.proxies import stats as stats_module
from tapq.proxies.degenerate import warn_degenerate
from tapq.proxies.stats import LayerStats, collect_stats

__all__ = ["STATS_VERSION", "collect_stats_cached", "stats_key"]

# Bump when what collect_stats computes changes, so stale cache files are not reused.
# 2: joint Hutchinson probes, hessian_trace_se, statistics selection, label-free loss.
# 3: network context, patches, activation ranges, PTQ weights and delta_loss.
STATS_VERSION = 3
_MEMORY_ENTRIES = 8

# Where statistics are computed is not part of what they are (devices agree within float
# tolerance), so `device` is no option of the cache key.
# The PTQ calibration images are hashed like the batch, not written into the options.
_DEFAULT_OPTIONS = {k: v for k, v in collect_stats.__kwdefaults__.items()
                    if k not in ("device", "ptq_calib")}


def _options(kwargs: dict) -> dict:
    """collect_stats' keyword arguments with defaults filled in, so equal calls share keys."""
    unknown = set(kwargs) - set(_DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"collect_stats got unexpected arguments: {', '.join(sorted(unknown))}")
    return {**_DEFAULT_OPTIONS, **kwargs}


def stats_key(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
              ptq_calib: torch.Tensor | None = None, **kwargs) -> str:
    """The cache key of collect_stats(model, x, y, **kwargs): a SHA-256 hex digest."""
    digest = model_digest(model)
    if ptq_calib is not None:
        update_digest(digest, "ptq_calib", ptq_calib)
    update_digest(digest, "x", x)
    if y is None:  # label-free: the loss is the model's own (tapq.proxies.stats)
        digest.update(b"y:none;")
    else:
        update_digest(digest, "y", y)
    digest.update(json.dumps(_options(kwargs), sort_keys=True, default=repr).encode())
    digest.update(f"stats-v{STATS_VERSION}".encode())
    return digest.hexdigest()


_MEMORY: dict[str, list[LayerStats]] = {}


def collect_stats_cached(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
                         device: DeviceLike = None,
                         **kwargs) -> list[LayerStats]:
    """collect_stats, cached in memory and on disk under ``cache_dir()/stats/<key>.pt``.

    The key covers the architecture, every weight, the batch and the options, so a
    changed model or batch is recomputed; an unreadable file is recomputed and replaced.
    `device` only says where a missing entry is computed (it is not part of the key).
    """
    ptq_calib = kwargs.pop("ptq_calib", None)
    options = _options(kwargs)
    key = stats_key(model, x, y, ptq_calib, **options)
    if key in _MEMORY:
        return list(_MEMORY[key])
    path = cache_dir() / "stats" / f"{key}.pt"
    stats = _load(path)
    if stats is None:
        stats = stats_module.collect_stats(model, x, y, **options, ptq_calib=ptq_calib,
                                           device=device)
        _save(stats, path)
    warn_degenerate(stats)  # also when read back: the warning must not vanish on a rerun
    while len(_MEMORY) >= _MEMORY_ENTRIES:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = stats
    return list(stats)


def _save(stats: list[LayerStats], path: Path) -> None:
    records = [{f.name: getattr(s, f.name) for f in fields(s) if f.compare} for s in stats]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    torch.save({"version": STATS_VERSION, "layers": records}, partial)
    os.replace(partial, path)  # atomic: parallel builders never read half a file


def _load(path: Path) -> list[LayerStats] | None:
    if not path.exists():
        return None
    try:
        saved = torch.load(path, weights_only=True)
        if saved.get("version") != STATS_VERSION:
            return None
        return [LayerStats(**record) for record in saved["layers"]]
    except Exception:  # noqa: BLE001 -- a corrupt or foreign file is recomputed, not fatal
        return None
