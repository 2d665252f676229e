"""The shipped benchmarks: listed with their own numbers, and reachable by name."""
import json
import sqlite3
import subprocess
import sys

import pytest

from tapq.bench import BenchStore, bench_info, resolve_bench, shipped_benches


def test_every_shipped_benchmark_is_named_after_its_model_and_opens_by_that_name():
    shipped = shipped_benches()
    assert "mnist-cnn" in shipped
    for name, path in shipped.items():
        assert resolve_bench(name) == path
        store = BenchStore(name)  # a name, not a path
        try:
            info = bench_info(store)
        finally:
            store.close()
        assert info["model"] == name and info["complete"]


def test_a_file_of_that_name_wins_over_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist-cnn").write_text("mine")
    assert resolve_bench("mnist-cnn").resolve() == (tmp_path / "mnist-cnn").resolve()


def test_bench_list_reports_each_shipped_benchmark_with_its_ceiling():
    done = subprocess.run([sys.executable, "-m", "tapq.cli", "bench", "list", "--json"],
                          capture_output=True, text=True, timeout=300, check=True)
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert set(rows) == set(shipped_benches())
    mnist = rows["mnist-cnn"]
    assert mnist["target"] == "kl" and mnist["configs"] == 1000
    assert sum(mnist["splits"].values()) == 1000
    low, high = mnist["ceiling_ci"]
    assert 0 < low <= mnist["ceiling"] <= high <= 1


def test_every_shipped_benchmark_has_ceilings_from_halves_and_from_seeds_per_band():
    """Issue 16's bar for a shipped ground truth: its target, its splits, and the proxy
    ceiling from disjoint evaluation halves and from two calibration seeds -- pooled
    within bands and per band, each with an interval."""
    for name, path in shipped_benches().items():
        with BenchStore(path) as store:
            info = bench_info(store)
        assert info["target"] in ("kl", "accuracy", "agreement")
        assert min(info["search"], info["select"], info["test"]) > 0
        for source in ("halves", "seeds", "independent"):
            found = info["ceilings"][source]
            assert found is not None, f"{name}: no {source} ceiling"
            low, high = found["ceiling_ci"]
            assert 0 < low <= found["ceiling"] <= high <= 1, (name, source)
            banded = [b for b in found["bands"] if b["ceiling"] is not None]
            assert len(banded) >= 3, (name, source)
        assert info["ceilings"]["halves"]["ceiling"] >= 0.9, name  # what issue 16 asks


def test_a_store_closes_when_its_block_ends():
    with BenchStore(resolve_bench("mnist-cnn")) as store:
        assert store.meta()["spec"]["model"] == "mnist-cnn"
    with pytest.raises(sqlite3.ProgrammingError):
        store.meta()  # closed
