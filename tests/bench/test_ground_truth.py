"""Targets and splits of a benchmark: balanced assignment, legacy benchmarks, the API."""
import shutil
import sqlite3

import numpy as np
import pytest

from tapq.bench import DEFAULT_BENCH, SPLITS, BenchStore, assign_splits, load_bench_data
from tapq.bench.ground_truth import legacy_splits, set_splits_and_target
from tapq.correlation import budget_bands
from tapq.errors import TapqError


def test_splits_are_deterministic_and_balanced_within_every_band():
    avg = np.random.default_rng(0).uniform(2, 8, 600)
    split = assign_splits(avg, (0.45, 0.15, 0.40))
    assert split == assign_splits(avg, (0.45, 0.15, 0.40))
    bands = budget_bands(avg)
    for band in np.unique(bands):
        members = [s for s, b in zip(split, bands) if b == band]
        for name, share in zip(SPLITS, (0.45, 0.15, 0.40)):
            assert abs(members.count(name) - share * len(members)) <= 1


def test_legacy_val_becomes_select_and_test_and_search_stays():
    split = ["search", "val"] * 20
    avg = np.linspace(2, 4, 40)
    mapped = legacy_splits(split, avg)
    assert [m for m, s in zip(mapped, split) if s == "search"] == ["search"] * 20
    assert mapped.count("select") + mapped.count("test") == 20
    assert abs(mapped.count("select") - mapped.count("test")) <= len(np.unique(budget_bands(avg)))


def test_the_shipped_benchmark_loads_with_three_splits_and_its_target():
    store = BenchStore(DEFAULT_BENCH)
    try:
        data = load_bench_data(store)
    finally:
        store.close()
    sizes = {name: int(data.in_split(name).sum()) for name in SPLITS}
    assert sum(sizes.values()) == len(data.avg_bits) and min(sizes.values()) > 0
    assert data.target in ("accuracy", "kl", "agreement")
    assert data.without_test().in_split("test").sum() == 0
    kl = data.with_target("kl")
    assert kl.values.tolist() == (-data.targets["kl"]).tolist()


def test_bench_set_resplits_and_retargets_without_remeasuring(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(DEFAULT_BENCH, path)
    with sqlite3.connect(path) as db:  # as a file built before agreement was measured
        db.execute("UPDATE results SET agreement = NULL")
    store = BenchStore(path)
    try:
        before = {r.config_id: r.kl for r in store.results(0)}
        spec = set_splits_and_target(store, (0.4, 0.2, 0.4), "kl")
        data = load_bench_data(store)
        with pytest.raises(TapqError, match="no agreement"):
            set_splits_and_target(store, None, "agreement")  # not measured in this file
        assert {r.config_id: r.kl for r in store.results(0)} == before
    finally:
        store.close()
    assert spec["target"] == data.target == "kl" and "val_every" not in spec
    n = len(data.avg_bits)
    assert abs(data.in_split("test").sum() - 0.4 * n) <= 13  # one per band at most
    assert abs(data.in_split("select").sum() - 0.2 * n) <= 13
