"""A benchmark too small for iso-budget fitness is refused before a run starts."""
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from tapq.bench import DEFAULT_BENCH
from tapq.discover import DiscoverConfig, LLMConfig, check_bench, discover
from tapq.errors import TapqError


@pytest.fixture()
def small_bench(tmp_path):
    """The shipped benchmark cut down to 40 sampled configurations."""
    path = tmp_path / "small.db"
    shutil.copy(DEFAULT_BENCH, path)
    with sqlite3.connect(path) as db:
        keep = [r[0] for r in db.execute("SELECT id FROM configs WHERE kind = 'sample' "
                                         "ORDER BY id LIMIT 40")]
        marks = ",".join("?" * len(keep))
        db.execute(f"DELETE FROM results WHERE config_id IN (SELECT id FROM configs WHERE "
                   f"kind = 'sample' AND id NOT IN ({marks}))", keep)
        db.execute(f"DELETE FROM configs WHERE kind = 'sample' AND id NOT IN ({marks})", keep)
    return path


def test_check_bench_names_what_is_undefined_and_the_minimum(small_bench):
    with pytest.raises(TapqError, match=r"iso-budget rho is undefined: no 0\.5-bit .* search "
                                        r"split has the 8 configurations.*at least 8 search"):
        check_bench(small_bench)
    check_bench(DEFAULT_BENCH)  # the shipped one is fine


def test_discover_refuses_before_creating_the_run_folder(small_bench, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TapqError, match="cannot support discovery"):
        discover(DiscoverConfig(bench=small_bench, out=out, llm=LLMConfig(spec="openai:fake")))
    assert not out.exists()
    done = subprocess.run([sys.executable, "-m", "tapq.cli", "discover", "--bench",
                           str(small_bench), "--out", str(out), "--llm", "openai:fake"],
                          check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OPENAI_API_KEY": "unused"})
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot support discovery" in done.stderr and not out.exists()
