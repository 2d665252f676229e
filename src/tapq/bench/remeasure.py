"""Adding half measurements to a benchmark built before every result stored them.

A benchmark's ceiling from independent evaluation halves needs its target on the even
and the odd evaluation examples. Accuracy's halves have always been stored; the loss, KL
and agreement halves (``halves`` table) and agreement itself only since targets and
ceilings were built. ``remeasure_halves``
measures the stored configurations again with the benchmark's own settings (one PTQ and
one evaluation each, split afterwards) and keeps the halves only of measurements that
reproduce the stored full-split values: halves must split the very measurement the
benchmark holds, not a similar one.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import torch

from tapq.bench.builder import BenchSpec, _measure_job, _use_spec
from tapq.bench.store import BenchStore, ConfigRow, ResultRow
from tapq.device import DeviceLike, resolve_device
from tapq.errors import TapqError
from tapq.executors import Executor, LocalExecutor
from tapq.models import load_model, model_hash
from tapq.progress import track

_log = logging.getLogger(__name__)

# Targets whose halves a remeasurement adds (accuracy's have always been stored).
REMEASURED = ("kl", "agreement")

# A remeasurement reproduces a stored value when it is this close (absolute, plus
# relative for loss and KL): the build itself reproduces to ~1e-7 across worker counts.
TOLERANCE = 1e-5


@dataclass(frozen=True)
class Remeasured:
    """What a remeasurement did.

    Attributes:
        measured: (configuration, seed) pairs measured now.
        skipped: pairs that already had every half stored.
        seconds: wall time of the measuring.
    """

    measured: int
    skipped: int
    seconds: float


def _spec_of(meta: dict) -> BenchSpec:
    """The BenchSpec the benchmark was built with. Settings this version no longer has
    (e.g. ``val_every``) are dropped and new ones take their defaults: none of those
    change a measurement, and every remeasurement is checked against the stored values."""
    known = {f.name for f in fields(BenchSpec)}
    stored = {k: v for k, v in meta["spec"].items() if k in known}
    for key in ("bits", "splits"):
        if key in stored:
            stored[key] = tuple(stored[key])
    return BenchSpec(**stored)


def _jobs(store: BenchStore, limit: int | None) -> tuple[list[tuple[ConfigRow, int]], int]:
    """(configuration, seed) pairs to measure: the first `limit` sampled configurations
    (their order interleaves the average-bit strata, so any prefix spans the range) under
    every seed they were measured with, less those whose halves are all stored."""
    samples = store.configs("sample")[:limit]
    done = store.done()
    complete = set.intersection(*({(i, s) for s in store.meta()["calib_seeds"]
                                   for i in store.halves(t, s)} for t in REMEASURED))
    wanted = [(c, s) for c in samples for s in store.meta()["calib_seeds"] if (c.id, s) in done]
    jobs = [(c, s) for c, s in wanted if (c.id, s) not in complete]
    return jobs, len(wanted) - len(jobs)


def _reproduces(new: ResultRow, old: ResultRow) -> bool:
    """Whether `new` is the stored measurement `old` again (every value `old` has)."""
    pairs = [(getattr(new, k), getattr(old, k)) for k in ("accuracy", "loss", "kl",
                                                          "accuracy_even", "accuracy_odd")]
    return all(abs(a - b) <= TOLERANCE * (1 + abs(b)) for a, b in pairs if b is not None)


def remeasure_halves(path: str | Path, limit: int | None = None, workers: int = 1,
                     executor: Executor | None = None, device: DeviceLike = None) -> Remeasured:
    """Measure the half values of the benchmark at `path` (resumable, committed one by one).

    Args:
        path: the benchmark file; it gains a ``halves`` table.
        limit: only the first `limit` sampled configurations (None: all measured ones),
            under both calibration seeds where the benchmark has both.
        workers / executor / device: as for ``build_bench``.
    Raises TapqError if the model is not the one the benchmark was built on, or if any
    measurement does not reproduce its stored values (its halves are then not stored).
    """
    if limit is not None and limit < 1:
        raise TapqError(f"--limit must be at least 1, not {limit}")
    store = BenchStore(path)  # refuses a missing, damaged or foreign file untouched
    store.close()
    store = BenchStore(path, create=True)  # adds the halves table
    try:
        meta = store.meta()
        spec = _spec_of(meta)
        if model_hash(load_model(spec.model, spec.weights)) != meta["model_hash"]:
            raise TapqError(f"{path} was built on other weights of {spec.model} (model hash "
                            "differs); its measurements cannot be reproduced here")
        jobs, skipped = _jobs(store, limit)
        stored = {(r.config_id, r.calib_seed): r for r in store.results()}
        device = str(resolve_device(device))
        runner = executor or LocalExecutor(workers)
        _use_spec(spec, device)
        # Builds measure in one-thread workers; AdaRound's rounding can depend on the
        # order floating-point sums run in, so measuring in this process does the same.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        start, failed = time.perf_counter(), []
        try:
            results = runner.map_unordered(partial(_measure_job, spec, device=device), jobs)
            for _, row in track(results, "measuring halves", total=len(jobs)):
                old = stored[(row.config_id, row.calib_seed)]
                if _reproduces(row, old):
                    store.add_halves([row])
                else:  # said at once: a long run should not find out only at its end
                    failed.append(abs(row.accuracy - (old.accuracy or 0.0)))
                    _log.warning(f"tapq: warning: configuration {row.config_id} (seed "
                                 f"{row.calib_seed}) did not reproduce its stored values "
                                 f"(accuracy {old.accuracy} stored, {row.accuracy} now); "
                                 "its halves are not stored")
        finally:
            torch.set_num_threads(threads)
            if executor is None:
                runner.close()
        seconds = time.perf_counter() - start
        store.set_meta({"halves_remeasured": {
            "pairs": len(jobs) - len(failed), "seconds": round(seconds, 1),
            "torch_version": str(torch.__version__), "device": device, "when": time.time()}})
    finally:
        store.close()
    if failed:
        raise TapqError(f"{len(failed)} of {len(jobs)} measurements did not reproduce the "
                        f"stored values (largest accuracy difference {max(failed):.4f}; torch "
                        f"{torch.__version__} here, {meta.get('torch_version')} at build); "
                        "their halves were not stored")
    return Remeasured(len(jobs), skipped, seconds)
