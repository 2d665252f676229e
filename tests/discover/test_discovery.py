"""The discovery loop end to end, over real HTTP to a loopback OpenAI-compatible server."""
from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from scripted_answers import BAD, EXPECTED, GOOD, by_request, in_order

from tapq.bench import DEFAULT_BENCH
from tapq.discover import (DiscoverConfig, ExecutionConfig, LLMConfig, RunStore, SearchConfig,
                           discover)
from tapq.discover.llm import OpenAIBackend
from tapq.sandbox import SandboxLimits
from tapq.errors import TapqError

LIMITS = SandboxLimits(wall_seconds=6, cpu_seconds=4, memory_mb=512)
ORDER = ["fisher", *BAD, "hawq", "gradient"]


def _config(out: Path, executor: str = "local", workers: int = 1, replay: Path | None = None,
            **search) -> DiscoverConfig:
    search = dict(dict(generations=2, population=len(ORDER) - 2, children=4, seed=3), **search)
    return DiscoverConfig(bench=DEFAULT_BENCH, out=out, llm=LLMConfig(spec="openai:fake"),
                          search=SearchConfig(**search), limits=LIMITS, replay=replay,
                          execution=ExecutionConfig(executor=executor, workers=workers))


@pytest.mark.slow
def test_every_kind_of_answer_is_recorded_with_its_reason_and_the_run_finishes(tmp_path):
    with FakeOpenAI(in_order(ORDER)) as server:
        backend = OpenAIBackend("fake", base_url=server.base_url)
        # the transfer check (its own tests: test_multi_bench.py) would compute the
        # ImageNet benchmark's statistics here; this test is about recording answers
        config = replace(_config(tmp_path / "run"), transfer=())
        result = discover(config, backend=backend, final_check=True)
        asked = len(server.requests)
    store = RunStore(tmp_path / "run" / "run.db")
    records = [r for r in store.candidates() if not r.is_seed]
    seeds = store.seeds()
    generations = store.generations()
    store.close()
    assert asked == len(records) == len(ORDER) - 2 + 4
    # every baseline and hint body was scored before the first request, as a seed
    assert {s.hint for s in seeds} >= {"baseline:fisher", "baseline:hawq_v2", "fisher"}
    fisher = next(s for s in seeds if s.hint == "baseline:fisher")
    assert next(s for s in seeds if s.hint == "fisher").copy_of == fisher.id
    # the scripted 'fisher' answer is the fisher baseline in other words: a copy, never
    # the best discovered proxy
    copies = [r for r in records if r.response == GOOD["fisher"]]
    assert copies and all(r.copy_of == fisher.id or r.duplicate_of for r in copies)
    best = result.summary.best
    assert best.novel and best.copy_of is None and best.response != GOOD["fisher"]
    by_slot = {r.slot: r for r in records if r.generation == 0}
    for slot, name in enumerate(ORDER[:len(ORDER) - 2]):
        record = by_slot[slot]
        if name in BAD:
            status, word = EXPECTED[name]
            assert record.status == status, (name, record.status, record.error)
            assert word.lower() in (record.error or "").lower(), (name, record.error)
            assert record.fitness == -math.inf
        else:
            assert record.status == "ok" and math.isfinite(record.fitness)
    assert [g.generation for g in generations] == [0, 1]
    assert result.summary.valid >= 2
    # the outputs: a proxy file usable by tapq proxy eval, a leaderboard, a log
    assert result.best_proxy.read_text().startswith('"""')
    assert (tmp_path / "run" / "leaderboard.csv").read_text().count("\n") >= 3
    assert "generation 1" in (tmp_path / "run" / "discover.log").read_text()
    assert result.final[0].proxy == "best_proxy"
    assert result.final[0].spearman_iso == pytest.approx(result.summary.best.fitness)
    assert {f.proxy for f in result.final[1:]} >= {"hawq_v2", "fisher", "size"}


@pytest.mark.slow
def test_identical_code_is_evaluated_once(tmp_path):
    twice = GOOD["fisher"].replace("Thought: Fisher", "Thought: the same, reworded")
    with FakeOpenAI(lambda request, i: twice if i % 2 else GOOD["fisher"]) as server:
        backend = OpenAIBackend("fake", base_url=server.base_url)
        discover(_config(tmp_path / "run", generations=1, population=3), backend=backend,
                 final_check=False)
    store = RunStore(tmp_path / "run" / "run.db")
    records = [r for r in store.candidates() if not r.is_seed]
    store.close()
    assert [r.duplicate_of for r in records] == [None, records[0].id, records[0].id]
    assert records[1].eval_seconds == 0 and records[1].fitness == records[0].fitness


def _population(out: Path) -> list[tuple]:
    conn = sqlite3.connect(out / "run.db")
    [(population,)] = conn.execute("SELECT population FROM generations ORDER BY generation "
                                   "DESC LIMIT 1")
    rows = {row[0]: row[1:] for row in conn.execute(
        "SELECT id, generation, slot, code_hash, fitness FROM candidates")}
    conn.close()
    return [rows[i] for i in json.loads(population)]


def _cli(out: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tapq.cli", "--quiet", "discover", "--out", str(out),
            "--llm", "openai:fake", "--llm-base-url", url, "--generations", "3",
            "--population", "3", "--children", "3", "--seed", "5",
            "--compare-budget", "none", "--transfer", "none", *extra]


@pytest.mark.slow
def test_a_run_killed_mid_generation_resumes_to_the_same_population(tmp_path):
    with FakeOpenAI(by_request) as server:
        env = {**os.environ, "OPENAI_API_KEY": "unused"}
        whole = subprocess.run(_cli(tmp_path / "whole", server.base_url), env=env,
                               capture_output=True, text=True, timeout=600)
        assert whole.returncode == 0, whole.stderr
        # the same run, killed with SIGKILL once generation 1 is under way
        killed = subprocess.Popen(_cli(tmp_path / "killed", server.base_url), env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        database = tmp_path / "killed" / "run.db"
        deadline = time.time() + 300
        while time.time() < deadline:
            time.sleep(0.2)
            if database.exists():
                try:
                    count = sqlite3.connect(database).execute(
                        "SELECT COUNT(*) FROM candidates WHERE generation = 1").fetchone()[0]
                except sqlite3.OperationalError:
                    continue
                if count >= 1:
                    break
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        before = sqlite3.connect(database).execute(
            "SELECT id, generation, slot, code_hash FROM candidates WHERE generation >= 0"
        ).fetchall()
        assert 0 < len(before) < 9, "the kill did not land mid-run"
        resumed = subprocess.run(_cli(tmp_path / "killed", server.base_url, "--resume"),
                                 env=env, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr
    after = sqlite3.connect(database).execute(
        "SELECT id, generation, slot, code_hash FROM candidates WHERE generation >= 0").fetchall()
    assert after[:len(before)] == before  # nothing finished was lost or redone
    assert len(after) == 9 and len({(g, s) for _, g, s, _ in after}) == 9
    assert _population(tmp_path / "killed") == _population(tmp_path / "whole")


@pytest.mark.slow
def test_a_finished_run_replays_exactly_without_the_llm(tmp_path):
    with FakeOpenAI(by_request) as server:
        backend = OpenAIBackend("fake", base_url=server.base_url)
        discover(_config(tmp_path / "first", generations=2, population=3, children=2),
                 backend=backend, final_check=False)
    # the server is gone: every answer must come from the first run's cache
    discover(_config(tmp_path / "again", generations=2, population=3, children=2,
                     replay=tmp_path / "first"), final_check=False)
    first, again = RunStore(tmp_path / "first" / "run.db"), RunStore(tmp_path / "again" / "run.db")
    assert [(r.code_hash, r.fitness) for r in first.candidates()] == [
        (r.code_hash, r.fitness) for r in again.candidates()]
    assert all(r.cached for r in again.candidates() if not r.is_seed)
    first.close(), again.close()


def test_an_existing_run_needs_resume_and_the_same_settings(tmp_path):
    with FakeOpenAI(in_order(["fisher"])) as server:
        backend = OpenAIBackend("fake", base_url=server.base_url)
        config = _config(tmp_path / "run", generations=1, population=1)
        discover(config, backend=backend, final_check=False)
        with pytest.raises(TapqError, match="already holds a run"):
            discover(config, backend=backend, final_check=False)
        with pytest.raises(TapqError, match="other settings .*seed"):
            discover(_config(tmp_path / "run", generations=1, population=1, seed=9),
                     resume=True, backend=backend, final_check=False)


@pytest.mark.slow
def test_one_generation_with_the_embedded_model(tmp_path):
    """The offline default end to end: the real 0.5B model writes a few candidates, each is
    parsed, sandboxed and scored, and the run's outputs exist."""
    pytest.importorskip("llama_cpp")
    result = discover(DiscoverConfig(bench=DEFAULT_BENCH, out=tmp_path / "run",
                                     llm=LLMConfig(spec="embedded", max_tokens=300),
                                     search=SearchConfig(generations=1, population=3, seed=1),
                                     limits=LIMITS), final_check=False)
    store = RunStore(tmp_path / "run" / "run.db")
    records = [r for r in store.candidates() if not r.is_seed]
    store.close()
    assert len(records) == 3 and result.llm.startswith("embedded:qwen2.5-coder-0.5b")
    assert all(r.completion_tokens > 0 and r.response for r in records)
    assert all(r.status == "ok" or r.error for r in records)  # every failure has its reason
    assert (tmp_path / "run" / "leaderboard.csv").exists()


def test_resume_needs_a_run_and_a_foreign_database_is_left_alone(tmp_path):
    with pytest.raises(TapqError, match="nothing to resume"):
        discover(_config(tmp_path / "empty"), resume=True, backend=object(), final_check=False)
    (tmp_path / "foreign").mkdir()
    foreign = sqlite3.connect(tmp_path / "foreign" / "run.db")
    foreign.execute("CREATE TABLE notes (text TEXT)")
    foreign.commit()
    foreign.close()
    with pytest.raises(TapqError, match="not a tapq run database"):
        discover(_config(tmp_path / "foreign"), resume=True, backend=object(), final_check=False)
    tables = sqlite3.connect(tmp_path / "foreign" / "run.db").execute(
        "SELECT name FROM sqlite_master").fetchall()
    assert tables == [("notes",)]


def _outcomes(out: Path) -> list[tuple]:
    """Every candidate's slot, program, outcome and original (by slot), in slot order."""
    store = RunStore(out / "run.db")
    records = store.candidates()
    store.close()
    slot_of = {r.id: (r.generation, r.slot) for r in records}
    return sorted((r.generation, r.slot, r.code_hash, r.status, r.fitness,
                   slot_of.get(r.duplicate_of), slot_of.get(r.copy_of))
                  for r in records if not r.is_seed)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_parallel_evaluation_scores_exactly_what_one_worker_scores(tmp_path, executor):
    """Candidates evaluated two at a time (a local pool, or Ray tasks) give the same
    records and population as one after another, identical programs in one generation
    included (slots 0 and 2 write the same code; slot 3 a failing one)."""
    if executor == "ray":
        pytest.importorskip("ray")
    order = ["fisher", "hawq", "fisher", "raises", "gradient", "size"]
    runs = {}
    for workers, kind in ((1, "local"), (2, executor)):
        out = tmp_path / f"{kind}-{workers}"
        with FakeOpenAI(in_order(order)) as server:
            backend = OpenAIBackend("fake", base_url=server.base_url)
            discover(_config(out, generations=2, population=4, children=3, executor=kind,
                             workers=workers), backend=backend, final_check=False)
        runs[workers] = (_outcomes(out), _population(out))
    (serial, serial_population), (parallel, parallel_population) = runs[1], runs[2]
    assert parallel == serial
    assert [p[1:] for p in parallel_population] == [p[1:] for p in serial_population]
    assert serial[2][-2] == (0, 0), "slot 2 is a copy of slot 0, evaluated once"
    assert serial[3][3] == "error"
