"""Where independent jobs run: in this process, in a local process pool, or on Ray.

Benchmark building hands an executor one function and a list of jobs, and commits each
result as it comes back, so a killed build loses only the jobs in flight::

    with make_executor("ray", workers=4) as executor:
        for index, result in executor.map_unordered(measure, jobs):
            store.add_result(result)

``fn`` must pickle by reference -- a module-level function or a ``functools.partial``
of one -- and every worker must be able to import it: on a Ray cluster every node needs
tapq installed, and any file a job reads must exist at the same path on every node.
Results come back in completion order, each with its item's index.

A worker (pool process or Ray task) runs one torch thread. n one-thread workers use n
cores better than n processes each starting a thread per core, and a result then does
not depend on where it was computed: the local pool and Ray give bit-identical numbers.
(The in-process executor keeps torch's own thread count, so it may differ from them in
the last bits of a float.)
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch

from tapq.errors import TapqError
from tapq.progress import set_quiet

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]

EXECUTORS = ("local", "ray")
CHUNK = 8  # jobs per task: few enough to commit results steadily, enough to amortise a task
MAX_RETRIES = 3  # times a task whose worker died is run again


class Executor(ABC):
    """Runs a function over many items, possibly elsewhere; a context manager."""

    @abstractmethod
    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable,
                      chunk: int = CHUNK) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` for every item, in completion order.

        Args:
            fn: a function of one item that pickles by reference.
            items: the items (picklable); sent `chunk` at a time to a worker.
            chunk: items per task; their results come back together.
        Raises whatever `fn` raised, after cancelling the work not yet started.
        """

    def close(self) -> None:
        """Release the workers (a no-op where there are none)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _one_thread(parent: int | None = None) -> None:
    """Set up a worker process: one torch thread, no progress bars, and (on Linux) death
    with `parent`: a build killed with SIGTERM or SIGKILL must not leave its workers
    measuring on, unseen, for an hour."""
    torch.set_num_threads(1)
    set_quiet(True)
    if parent is not None:
        _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits (prctl PR_SET_PDEATHSIG);
    elsewhere nothing. If the parent is already gone, exit now."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # it died before the request was in place
        os._exit(1)


def _run_chunk(fn: Callable[[Any], Any], items: list) -> list:
    """What a worker runs: `fn` over one chunk of items."""
    return [fn(item) for item in items]


def _chunks(items: Iterable, chunk: int) -> list[list[tuple[int, Any]]]:
    indexed = list(enumerate(items))
    return [indexed[i:i + max(chunk, 1)] for i in range(0, len(indexed), max(chunk, 1))]


class LocalExecutor(Executor):
    """`workers` processes on this machine (``spawn``: forking after torch has started
    threads can deadlock); with one worker, everything runs in this process.

    A worker that dies (killed, out of memory) breaks the whole pool; the chunks not yet
    finished then run again on a fresh pool, up to `restarts` times per call, so a
    stray kill costs the work in flight and nothing else. (Ray retries a dead worker's
    task the same way, MAX_RETRIES times.)
    """

    def __init__(self, workers: int = 1, restarts: int = 3):
        if workers < 1:
            raise TapqError(f"--workers must be at least 1, not {workers}")
        self.workers, self.restarts = workers, restarts
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, fn, items, chunk=CHUNK):
        if self.workers == 1:
            for index, item in enumerate(items):
                yield index, fn(item)
            return
        waiting = dict(enumerate(_chunks(items, chunk)))  # chunks not yet finished
        pending: dict = {}  # future -> chunk number
        restarts = 0
        try:
            while waiting:
                if not pending:  # (re)submit every unfinished chunk to a live pool
                    pool = self._pool_started()
                    pending = {pool.submit(_run_chunk, fn, [item for _, item in part]): number
                               for number, part in waiting.items()}
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                broken = False
                for future in finished:
                    number = pending.pop(future)
                    try:
                        results = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    yield from zip([index for index, _ in waiting.pop(number)], results)
                if broken:
                    # A worker died (killed, or out of memory): the pool is unusable and
                    # every unfinished chunk fails with it. Finished results were already
                    # yielded; the rest run again on a fresh pool.
                    restarts += 1
                    if restarts > self.restarts:
                        raise TapqError(f"worker processes died {restarts} times (killed, or "
                                        "out of memory?); the results so far are kept")
                    pending = {}
                    self.close()
        finally:
            for future in pending:
                future.cancel()

    def _pool_started(self) -> ProcessPoolExecutor:
        if self._pool is None:  # kept for the next call: workers keep their caches
            self._pool = ProcessPoolExecutor(self.workers, initializer=_one_thread,
                                             initargs=(os.getpid(),),
                                             mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _ray_task(fn: Callable[[Any], Any], items: list) -> list:
    _one_thread()
    return _run_chunk(fn, items)


def _import_ray():
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise TapqError("the Ray executor needs Ray: pip install 'tapq[ray]'") from None


def _check_reachable(address: str) -> None:
    """Fail in seconds where nothing listens at `address` (``host:port``): Ray itself
    retries such an address for about ten minutes before giving up."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return  # "auto" and the like: Ray resolves them
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as error:
        raise TapqError(f"no Ray cluster answers at {address} ({error}); start one with "
                        "`ray start --head` or check --ray-address") from None


class RayExecutor(Executor):
    """Tasks of one CPU each on a Ray cluster, joined (or started) on first use.

    Args:
        address: a running cluster (``HEAD:6379``; ``auto`` for the one ``ray start``
            began on this machine); None starts a private local instance.
        num_cpus: CPUs of that local instance (None: all); ignored with `address`.
    If this process is already connected to Ray, that connection is used (and kept).
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self._ray = _import_ray()
        self.address, self.num_cpus = address, num_cpus
        self._owned = False
        self._task = None

    def _connect(self):
        ray = self._ray
        if self._task is not None:
            return self._task
        if not ray.is_initialized():
            if self.address:
                _check_reachable(self.address)
            try:
                ray.init(address=self.address or "local",
                         num_cpus=None if self.address else self.num_cpus,
                         ignore_reinit_error=True, include_dashboard=False,
                         log_to_driver=False, logging_level="warning")
            except (ConnectionError, ValueError, RuntimeError) as error:
                # Ray >= 2.5x: a cluster started with a token is reached only with
                # RAY_AUTH_MODE=token (and the token) set here too.
                hint = (" (is it running? does it use token authentication? then set "
                        "RAY_AUTH_MODE=token here)" if self.address else "")
                raise TapqError(f"cannot start or reach Ray at {self.address or 'local'}: "
                                f"{error}{hint}") from None
            self._owned = True
        self._task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_ray_task)
        return self._task

    def map_unordered(self, fn, items, chunk=CHUNK):
        parts = _chunks(items, chunk)
        if not parts:  # e.g. resuming a finished build: no need to start Ray
            return
        ray, task = self._ray, self._connect()
        fn_ref = ray.put(fn)  # shipped once, not once per task
        pending = {task.remote(fn_ref, [item for _, item in part]):
                   [index for index, _ in part] for part in parts}
        try:
            while pending:
                [ref], _ = ray.wait(list(pending), num_returns=1)
                indices = pending.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayTaskError as error:
                    # Raise what the job raised (a TapqError stays one), like the pool.
                    if isinstance(error.cause, Exception):
                        raise error.cause from error
                    raise
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                        ray.exceptions.ObjectLostError) as error:
                    raise TapqError(f"a Ray worker died {MAX_RETRIES + 1} times on the same "
                                    f"task ({type(error).__name__}); the results so far "
                                    "are kept") from None
                yield from zip(indices, results)
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned, self._task = False, None


def make_executor(kind: str = "local", workers: int = 1,
                  address: str | None = None) -> Executor:
    """The executor named `kind`.

    Args:
        kind: ``local`` (this machine's processes) or ``ray``.
        workers: local worker processes; for ``ray`` without `address`, the CPUs of the
            local instance it starts (a cluster uses all of its CPUs).
        address: the Ray cluster to join (``ray`` only).
    Raises TapqError for an unknown kind, fewer than one worker, an address without Ray,
    or ``ray`` when Ray is not installed.
    """
    if workers < 1:
        raise TapqError(f"--workers must be at least 1, not {workers}")
    if kind == "local":
        if address:
            raise TapqError("--ray-address needs --executor ray")
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(address, num_cpus=workers)
    raise TapqError(f"unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}")
