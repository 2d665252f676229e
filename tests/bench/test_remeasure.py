"""Adding half measurements to a benchmark built before they were stored."""
import shutil
import sqlite3

import pytest

from tapq.bench import BenchSpec, BenchStore, build_bench, ceilings, remeasure_halves
from tapq.bench.store import HALF_TARGETS
from tapq.errors import TapqError

SPEC = BenchSpec(model="digits-cnn", data="digits?eval_n=200&calib_n=64", configs=24,
                 ptq="rtn", repeat=8, bits=(2, 4, 8), calib_size=32, layer_sensitivity=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("remeasure") / "built.db"
    build_bench(SPEC, path).close()
    return path


def _later(path):
    """(config, seed, agreement, then even and odd of loss, KL and agreement) per result."""
    with sqlite3.connect(path) as db:
        halves = {(c, s, t): (e, o) for c, s, t, e, o in db.execute("SELECT * FROM halves")}
        rows = db.execute("SELECT config_id, calib_seed, agreement FROM results "
                          "ORDER BY config_id, calib_seed").fetchall()
    return [(c, s, a, *(v for t in HALF_TARGETS for v in halves.get((c, s, t), (None, None))))
            for c, s, a in rows]


def _as_old(built, path):
    """A copy of `built` as a file from before agreement and the halves table existed."""
    shutil.copy(built, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE results SET agreement = NULL")
        db.execute("DROP TABLE halves")
    return path


def test_remeasure_restores_exactly_what_a_build_stores(built, tmp_path):
    old = _as_old(built, tmp_path / "old.db")
    store = BenchStore(old)
    assert ceilings(store, "kl", resamples=50)["halves"] is None
    store.close()
    done = remeasure_halves(old)
    assert (done.measured, done.skipped) == (24 + 8, 0)
    for new, reference in zip(_later(old), _later(built)):
        assert new[:2] == reference[:2]
        assert new[2:] == pytest.approx(reference[2:], abs=1e-6)
    store = BenchStore(old)
    found = ceilings(store, "kl", resamples=50)
    assert found["halves"].configs == 24 and found["independent"].configs == 8
    assert store.meta()["halves_remeasured"]["pairs"] == 32
    store.close()
    again = remeasure_halves(old)  # resumable: nothing left to measure
    assert (again.measured, again.skipped) == (0, 32)


def test_limit_takes_the_first_configurations_under_every_seed(built, tmp_path):
    old = _as_old(built, tmp_path / "old.db")
    done = remeasure_halves(old, limit=4)
    assert done.measured == 4 + 4  # the first 4 are among the 8 repeated ones
    measured = [row[:2] for row in _later(old) if row[2] is not None]
    assert sorted(measured) == [(i, s) for i in range(4) for s in (0, 1)]


def test_a_measurement_that_does_not_reproduce_keeps_no_halves(built, tmp_path):
    old = _as_old(built, tmp_path / "old.db")
    with sqlite3.connect(old) as db:
        db.execute("UPDATE results SET accuracy = accuracy - 0.1 "
                   "WHERE config_id = 3 AND calib_seed = 0")
    with pytest.raises(TapqError, match="1 of 32 measurements did not reproduce"):
        remeasure_halves(old)
    rows = {row[:2]: row[2:] for row in _later(old)}
    assert rows[(3, 0)] == (None,) * (1 + 2 * len(HALF_TARGETS))
    assert all(v is not None for key, values in rows.items() if key != (3, 0) for v in values)
