"""Building a real (small) benchmark on the digits model, killing it, resuming it."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from tapq.bench import BenchSpec, BenchStore, bench_info, build_bench, noise_ceiling
from tapq.errors import TapqError

SPEC = BenchSpec(model="digits-cnn", configs=60, ptq="rtn", repeat=20, bits=(2, 3, 4, 8),
                 calib_size=64)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "digits.db"
    build_bench(SPEC, path).close()
    return path


def _rows(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT config_id, calib_seed, accuracy, loss FROM results "
                          "ORDER BY config_id, calib_seed").fetchall()


def test_build_stores_samples_repeats_and_layer_sensitivity(bench):
    store = BenchStore(bench)
    info = bench_info(store)
    assert info["complete"] and info["measured"] == 60 and info["configs"] == 60
    assert info["search"] + info["select"] + info["test"] == 60 and info["target"] == "accuracy"
    assert 22 <= info["search"] <= 32 and 5 <= info["select"] <= 13 and 19 <= info["test"] <= 29
    first = store.results(0)
    # every target and its two halves is stored: accuracy, KL to FP, agreement with FP
    assert all(0 <= r.agreement <= 1 and r.kl >= 0 for r in first)
    assert set(store.halves("agreement", 0)) == {r.config_id for r in first}
    assert min(r.agreement for r in first) < 1  # 2-bit configurations change predictions
    assert info["layer_configs"] == info["layer_measured"] == 5 * 4
    assert 0.1 <= info["accuracy_min"] < info["accuracy_max"] <= 1.0
    meta = store.meta()
    assert meta["model_hash"] and meta["fp_accuracy"] > 0.97 and meta["spec"]["ptq"] == "rtn"
    assert meta["devices"] == ["cpu"]  # where it was measured; not a resume key
    with sqlite3.connect(bench) as db:
        drops = db.execute("SELECT layer, bits, accuracy_drop FROM layer_sensitivity "
                           "WHERE bits = 8").fetchall()
    assert len(drops) == 5 and all(abs(d) < 0.02 for _, _, d in drops)
    store.close()


def test_noise_ceiling_comes_from_real_repeated_measurements(bench):
    store = BenchStore(bench)
    first = {r.config_id: r.accuracy for r in store.results(0)}
    second = {r.config_id: r.accuracy for r in store.results(1)}
    assert len(second) == 20 and set(second) <= set(first)
    ids = sorted(second)
    expected = stats.spearmanr([first[i] for i in ids], [second[i] for i in ids])[0]
    ceiling, pairs = noise_ceiling(store)
    assert pairs == 20 and ceiling == pytest.approx(expected)
    # a different calibration sample really changes some measurements
    assert any(first[i] != second[i] for i in ids)
    store.close()


def test_resuming_a_finished_build_measures_nothing_again(bench, tmp_path):
    before = _rows(bench)
    build_bench(SPEC, bench).close()
    assert _rows(bench) == before


def test_different_settings_refuse_to_resume(bench):
    with pytest.raises(TapqError, match="different settings"):
        build_bench(replace(SPEC, configs=61), bench)


def test_killed_build_resumes_to_the_same_rows(bench, tmp_path):
    path = tmp_path / "killed.db"
    command = [sys.executable, "-m", "tapq.cli", "--quiet", "bench", "build",
               "--model", "digits-cnn", "--out", str(path), "--configs", "60", "--ptq", "rtn",
               "--repeat", "20", "--bits", "2,3,4,8", "--calib-size", "64"]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.time() + 120
    count = 0
    while time.time() < deadline and process.poll() is None:
        if path.exists():
            try:
                with sqlite3.connect(path) as db:
                    count = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= 10:
                break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = len(_rows(path))
    assert 10 <= partial < len(_rows(bench)), "the build must be killed midway"
    subprocess.run(command, check=True, timeout=300)
    resumed, reference = _rows(path), _rows(bench)
    assert [r[:2] for r in resumed] == [r[:2] for r in reference]  # none lost, none twice
    assert np.allclose([r[2:] for r in resumed], [r[2:] for r in reference])


def _pool_workers(pid: int) -> list[int]:
    """The process-pool workers started by process `pid` (Linux /proc)."""
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        pids = [int(p) for p in children.read().split()]
    workers = []
    for child in pids:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                if b"spawn_main" in cmdline.read():
                    workers.append(child)
        except FileNotFoundError:
            pass
    return workers


@pytest.mark.slow
def test_a_worker_killed_mid_build_is_replaced_and_nothing_is_lost(bench, tmp_path):
    """SIGKILL one of two pool workers while it measures: the build finishes by itself,
    every configuration measured once, with the same numbers as an undisturbed build."""
    path = tmp_path / "worker-killed.db"
    command = [sys.executable, "-m", "tapq.cli", "--quiet", "bench", "build",
               "--model", "digits-cnn", "--out", str(path), "--configs", "60", "--ptq", "rtn",
               "--repeat", "20", "--bits", "2,3,4,8", "--calib-size", "64", "--workers", "2"]
    process = subprocess.Popen(command, start_new_session=True)
    try:
        deadline, killed = time.time() + 180, None
        while time.time() < deadline and process.poll() is None and killed is None:
            time.sleep(0.05)
            if not path.exists():
                continue
            try:
                with sqlite3.connect(path) as db:
                    count = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            workers = _pool_workers(process.pid)
            # as soon as a worker is seen with the build unfinished: on an idle machine
            # the whole build takes about as long as one chunk of results
            if workers and count < len(_rows(bench)):
                time.sleep(0.5)  # into its first jobs
                os.kill(workers[0], signal.SIGKILL)
                killed = count
        assert killed is not None and killed < len(_rows(bench)), "no worker was killed midway"
        assert process.wait(timeout=300) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    finished, reference = _rows(path), _rows(bench)
    assert [r[:2] for r in finished] == [r[:2] for r in reference]  # none lost, none twice
    assert np.allclose([r[2:] for r in finished], [r[2:] for r in reference], atol=1e-6)


@pytest.mark.slow
def test_two_workers_give_the_same_results(bench, tmp_path):
    path = tmp_path / "parallel.db"
    build_bench(SPEC, path, workers=2).close()
    parallel, serial = _rows(path), _rows(bench)
    assert [r[:2] for r in parallel] == [r[:2] for r in serial]
    assert np.allclose([r[2:] for r in parallel], [r[2:] for r in serial], atol=1e-6)


def test_info_on_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(TapqError, match="not found"):
        BenchStore(tmp_path / "none.db")
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite" * 100)
    with pytest.raises(TapqError, match="not a tapq benchmark"):
        BenchStore(junk)


def test_data_subsets_reach_the_workers_the_metadata_and_the_resume_check(tmp_path):
    spec = BenchSpec(model="digits-cnn", data="digits?eval_n=120&calib_n=64", configs=4,
                     ptq="rtn", repeat=0, bits=(4, 8), calib_size=32, layer_sensitivity=False)
    path = tmp_path / "subset.db"
    store = build_bench(spec, path, workers=2)  # workers load the data from the spec string
    meta = store.meta()
    store.close()
    assert meta["data"] == "digits?calib_n=64&eval_n=120" and meta["eval_size"] == 120
    accuracies = [row[2] for row in _rows(path)]
    assert all(abs(a * 120 - round(a * 120)) < 1e-3 for a in accuracies)  # 120 images
    build_bench(replace(spec, data="digits?calib_n=64&eval_n=120"), path).close()  # resumes
    with pytest.raises(TapqError, match="different settings"):
        build_bench(replace(spec, data="digits?eval_n=100&calib_n=64"), path)


def test_pinned_first_and_last_layers_hold_their_bits_and_are_not_measured_alone(tmp_path):
    spec = BenchSpec(model="digits-cnn", data="digits?eval_n=120&calib_n=64", configs=12,
                     ptq="rtn", repeat=0, bits=(2, 4, 8), calib_size=32, pin_first_last=8)
    path = tmp_path / "pinned.db"
    store = build_bench(spec, path)
    meta, samples, alone = store.meta(), store.configs("sample"), store.configs("layer")
    store.close()
    first, last = meta["layers"][0], meta["layers"][-1]
    assert meta["pinned"] == [first, last] and meta["spec"]["pin_first_last"] == 8
    assert len(samples) == 12
    assert all(c.w_bits[first] == 8 and c.w_bits[last] == 8 for c in samples)
    middle = meta["layers"][1:-1]
    assert len({tuple(c.w_bits[n] for n in middle) for c in samples}) == 12  # still varied
    assert {c.layer for c in alone} == set(middle) and len(alone) == len(middle) * 3


def test_a_benchmark_from_before_a_setting_existed_resumes_as_its_default(bench, tmp_path):
    """A file whose stored spec lacks a later setting was built with its default."""
    old = tmp_path / "old.db"
    old.write_bytes(bench.read_bytes())
    with sqlite3.connect(old) as db:
        spec = json.loads(db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()[0])
        del spec["pin_first_last"]
        db.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (json.dumps(spec),))
    before = _rows(old)
    build_bench(SPEC, old).close()  # resumes: nothing to measure
    assert _rows(old) == before
    with pytest.raises(TapqError, match="pin_first_last differs"):
        build_bench(replace(SPEC, pin_first_last=8), old)


def test_a_resumed_build_may_measure_more_repeats_but_not_fewer(tmp_path):
    spec = BenchSpec(model="digits-cnn", data="digits?eval_n=120&calib_n=64", configs=12,
                     ptq="rtn", repeat=2, bits=(2, 4, 8), calib_size=32,
                     layer_sensitivity=False)
    path = tmp_path / "grow.db"
    build_bench(spec, path).close()
    before = {(c, s): (a, l) for c, s, a, l in _rows(path)}
    build_bench(replace(spec, repeat=5), path).close()
    after = {(c, s): (a, l) for c, s, a, l in _rows(path)}
    assert sum(s == 1 for _, s in before) == 2 and sum(s == 1 for _, s in after) == 5
    assert all(after[key] == value for key, value in before.items())  # nothing re-measured
    store = BenchStore(path)
    assert store.meta()["spec"]["repeat"] == 5
    store.close()
    with pytest.raises(TapqError, match="may grow on resume, not shrink"):
        build_bench(replace(spec, repeat=3), path)
