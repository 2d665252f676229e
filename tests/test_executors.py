"""Executors: the local pool and Ray measure the same benchmark rows, bit for bit, and a
Ray build stopped part-way resumes without measuring anything twice."""
import math
import os
import signal
import socket
import sqlite3
import time
import sys
from dataclasses import replace
from functools import partial

import pytest

from tapq.bench import BenchSpec, build_bench
from tapq.cli import main
from tapq.errors import TapqError
from tapq.executors import Executor, LocalExecutor, RayExecutor, make_executor

SPEC = BenchSpec(model="digits-cnn", configs=24, ptq="rtn", repeat=6, bits=(2, 4, 8),
                 calib_size=64)
MEASURED = 24 + 6 + 5 * 3  # samples, repeats, 5 layers x 3 bit-widths


def _rows(path, seconds=False):
    columns = "config_id, calib_seed, accuracy, loss, kl, accuracy_even, accuracy_odd"
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT {columns}{', seconds' if seconds else ''} FROM results "
                          "ORDER BY config_id, calib_seed").fetchall()


def _configs(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM configs ORDER BY id").fetchall()


def test_in_process_executor_yields_every_index_and_raises_what_fn_raised():
    with LocalExecutor(1) as executor:
        assert sorted(executor.map_unordered(abs, [-3, 1, -2])) == [(0, 3), (1, 1), (2, 2)]
        with pytest.raises(ValueError, match="math domain"):
            list(executor.map_unordered(math.sqrt, [4.0, -1.0]))


def test_make_executor_refuses_what_cannot_run():
    with pytest.raises(TapqError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(TapqError, match="--workers must be at least 1"):
        make_executor("local", workers=0)
    with pytest.raises(TapqError, match="--ray-address needs --executor ray"):
        make_executor("local", address="head:6379")


def test_ray_executor_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(TapqError, match=r"pip install 'tapq\[ray\]'"):
        make_executor("ray", workers=2)


def test_cli_refuses_a_ray_address_for_local_workers(tmp_path, capsys):
    out = tmp_path / "new.db"
    assert main(["--quiet", "bench", "build", "--model", "digits-cnn", "--out", str(out),
                 "--ray-address", "head:6379"]) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err
    assert not out.exists()


def test_an_address_nobody_listens_at_fails_fast():
    ray = pytest.importorskip("ray")
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(TapqError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        list(make_executor("ray", address=f"127.0.0.1:{port}").map_unordered(abs, [1]))
    assert time.perf_counter() - start < 15 and not ray.is_initialized()


@pytest.mark.slow
def test_local_pool_yields_every_index_once_and_raises_what_fn_raised():
    with LocalExecutor(2) as executor:
        pairs = list(executor.map_unordered(abs, range(-10, 0), chunk=3))
        assert sorted(pairs) == [(i, 10 - i) for i in range(10)]
        with pytest.raises(ValueError, match="math domain"):
            list(executor.map_unordered(math.sqrt, [4.0, -1.0, 9.0], chunk=1))


def _die_once(marker_dir: str, item: int) -> int:
    """Square `item`; but the first worker to meet item 3 is killed (SIGKILL) instead."""
    if item == 3:
        try:
            os.close(os.open(os.path.join(marker_dir, "died"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return item * item
        os.kill(os.getpid(), signal.SIGKILL)
    return item * item


def _always_die(item: int) -> int:
    if item == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return item


@pytest.mark.slow
def test_a_killed_pool_worker_costs_only_the_work_in_flight(tmp_path):
    with LocalExecutor(2) as executor:
        pairs = list(executor.map_unordered(partial(_die_once, str(tmp_path)), range(10),
                                            chunk=1))
        assert (tmp_path / "died").exists(), "the worker was not killed"
        assert sorted(pairs) == [(i, i * i) for i in range(10)]  # each once, none lost
        # the fresh pool is kept for the next call
        assert sorted(executor.map_unordered(abs, [-1, -2], chunk=1)) == [(0, 1), (1, 2)]


@pytest.mark.slow
def test_a_job_that_always_kills_its_worker_fails_in_one_line():
    with LocalExecutor(2, restarts=1) as executor:
        seen = []
        with pytest.raises(TapqError, match="worker processes died 2 times"):
            for pair in executor.map_unordered(_always_die, range(6), chunk=1):
                seen.append(pair)
        assert (3, 3) not in seen and len(set(seen)) == len(seen)


# ---- Ray: one private local instance for the module ------------------------------------

@pytest.fixture(scope="module")
def ray_executor():
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    executor = RayExecutor(num_cpus=2)  # starts its own instance on first use
    assert sorted(executor.map_unordered(abs, [-1, -2, -3], chunk=1)) == [(0, 1), (1, 2),
                                                                           (2, 3)]
    yield executor
    executor.close()
    assert not ray.is_initialized(), "the executor shuts down the instance it started"


@pytest.fixture(scope="module")
def local_bench(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "local.db"
    build_bench(SPEC, path, workers=2).close()
    return path


@pytest.mark.slow
def test_ray_raises_what_the_job_raised(ray_executor):
    import ray

    assert ray.cluster_resources()["CPU"] == 2
    with pytest.raises(ValueError, match="math domain"):
        list(ray_executor.map_unordered(math.sqrt, [4.0, -1.0, 9.0], chunk=1))


@pytest.mark.slow
def test_ray_runs_again_a_task_whose_worker_was_killed(ray_executor, tmp_path):
    def die_once(item):  # a closure: Ray ships it by value to its workers
        if item == 3 and not (tmp_path / "died").exists():
            (tmp_path / "died").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return item * item

    pairs = list(ray_executor.map_unordered(die_once, range(8), chunk=1))
    assert (tmp_path / "died").exists(), "the worker was not killed"
    assert sorted(pairs) == [(i, i * i) for i in range(8)]


@pytest.mark.slow
def test_ray_build_equals_the_local_pool_bit_for_bit(ray_executor, local_bench, tmp_path):
    path = tmp_path / "ray.db"
    build_bench(SPEC, path, executor=ray_executor).close()
    assert len(_rows(path)) == MEASURED
    assert _configs(path) == _configs(local_bench)
    assert _rows(path) == _rows(local_bench)  # exact floats, not approximately equal


class _Stopped(Exception):
    pass


class _StopAfter(Executor):
    """Passes on `count` results, then fails as if the build had been killed."""

    def __init__(self, inner: Executor, count: int):
        self.inner, self.count = inner, count

    def map_unordered(self, fn, items, chunk=8):
        for passed, pair in enumerate(self.inner.map_unordered(fn, items, chunk)):
            if passed == self.count:
                raise _Stopped
            yield pair


@pytest.mark.slow
def test_stopped_ray_build_resumes_without_measuring_twice(ray_executor, local_bench,
                                                           tmp_path):
    path = tmp_path / "stopped.db"
    with pytest.raises(_Stopped):
        build_bench(SPEC, path, executor=_StopAfter(ray_executor, 10))
    partial = _rows(path, seconds=True)
    assert len(partial) == 10
    build_bench(SPEC, path, executor=ray_executor).close()
    resumed = _rows(path, seconds=True)
    assert [r[:-1] for r in resumed] == _rows(local_bench)  # none lost, none twice
    assert set(partial) <= set(resumed), "a stored result was measured again"


@pytest.mark.slow
def test_cli_builds_on_ray(ray_executor, local_bench, tmp_path):
    import ray

    out = tmp_path / "cli.db"
    assert main(["--quiet", "bench", "build", "--model", "digits-cnn", "--out", str(out),
                 "--configs", "24", "--ptq", "rtn", "--repeat", "6", "--bits", "2,4,8",
                 "--calib-size", "64", "--executor", "ray"]) == 0
    assert _rows(out) == _rows(local_bench)
    assert ray.is_initialized(), "a connection the CLI found is left open"
    with pytest.raises(TapqError, match="different settings"):
        build_bench(replace(SPEC, configs=25), out, executor=ray_executor)


_ORPHAN_PARENT = '''
import sys, time
from tapq.executors import LocalExecutor
executor = LocalExecutor(2)
jobs = executor.map_unordered(time.sleep, [600, 600], chunk=1)  # one task per worker
pool = executor._pool_started()
import threading
threading.Thread(target=lambda: list(jobs), daemon=True).start()
while len(pool._processes or {}) < 2:
    time.sleep(0.1)
time.sleep(5)  # workers past their initializer
print(" ".join(str(pid) for pid in pool._processes), flush=True)
time.sleep(600)
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("kill", [signal.SIGTERM, signal.SIGKILL])
def test_workers_die_with_a_killed_parent(kill):
    """A build killed from outside must not leave its pool measuring on, orphaned."""
    import subprocess

    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_PARENT], stdout=subprocess.PIPE,
                              text=True)
    try:
        import select

        assert select.select([parent.stdout], [], [], 120)[0], "the pool never started"
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        parent.send_signal(kill)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers)
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    """Running (a zombie reaped by init does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
