"""Discovery on several benchmarks at once, and the transfer check every run ends with.

Real small benchmarks: the session's digits benchmark (tests/conftest.py), a copy of it
re-declared with KL as its target (same configurations, another ground truth), and the
shipped mnist_cnn benchmark (another model). The LLM is the loopback fake server.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_openai import FakeOpenAI
from scripted_answers import GOOD

from tapq.bench import DEFAULT_BENCH, BenchStore, shipped_benches
from tapq.bench.ground_truth import set_splits_and_target
from tapq.discover import (CandidateRecord, DiscoverConfig, LLMConfig, RunStore, SearchConfig,
                           Status, discover, key_rows, run_transfer_check, transfer_targets)
from tapq.discover.transfer import named_benches
from tapq.discover.llm import OpenAIBackend
from tapq.discover.scoring import NoveltyJudge
from tapq.proxies import best_human, evaluate_proxies
from tapq.sandbox import SandboxLimits

LIMITS = SandboxLimits(wall_seconds=10, cpu_seconds=6, memory_mb=768)
# Proxies no seed ranks like (a per-layer factor reorders the layer x bit cells), and one
# copy of the fisher baseline.
NOVEL = [
    ("Thought: Fisher error scaled by the square root of the fan-in.\n```python\n"
    "import math\nimport torch\n\ndef sensitivity(layer, bits):\n"
    "    err = (layer.fisher * (layer.weight - layer.quant(bits)) ** 2).sum()\n"
    "    return float(err) * math.sqrt(layer.num_params)\n```\n"),
    ("Thought: mean squared rounding error times the layer's MACs.\n```python\n"
    "import torch\n\ndef sensitivity(layer, bits):\n"
    "    err = ((layer.weight - layer.quant(bits)) ** 2).mean()\n"
    "    return float(err) * float(layer.macs)\n```\n"),
]
ANSWERS = [NOVEL[0], GOOD["fisher"], NOVEL[1]]


def _respond(request: dict, index: int) -> str:
    return ANSWERS[index % len(ANSWERS)]


@pytest.fixture(scope="module")
def kl_twin(digits_bench, tmp_path_factory):
    """The digits benchmark re-declared with KL as its primary target: another ground
    truth of the same configurations (no re-measuring)."""
    path = tmp_path_factory.mktemp("twin") / "digits_kl.db"
    shutil.copy(digits_bench, path)
    store = BenchStore(path)
    try:
        set_splits_and_target(store, None, "kl")
    finally:
        store.close()
    return path


def _config(out: Path, benches: list[Path], fitness: str = "mean", replay: Path | None = None,
            generations: int = 2) -> DiscoverConfig:
    # transfer only onto the mnist benchmark (which this run searches), not the shipped
    # ImageNet one: its statistics would cost minutes here
    return DiscoverConfig(bench=benches[0], more_benches=tuple(benches[1:]), fitness=fitness,
                          out=out, transfer=(DEFAULT_BENCH,), llm=LLMConfig(spec="openai:fake"), limits=LIMITS,
                          search=SearchConfig(generations=generations, population=3,
                                              children=2, seed=2),
                          replay=replay)


def _labels(out: Path) -> list[str]:
    store = RunStore(out / "run.db")
    try:
        return [b["label"] for b in store.meta()["benches"]]
    finally:
        store.close()


@pytest.fixture(scope="module")
def two_models(digits_bench, tmp_path_factory):
    """A mean-fitness run over the digits benchmark and the shipped mnist one (two models,
    two layer counts), with its final and transfer checks."""
    out = tmp_path_factory.mktemp("multi") / "run"
    with FakeOpenAI(_respond) as server:
        result = discover(_config(out, [digits_bench, DEFAULT_BENCH]),
                          backend=OpenAIBackend("fake", base_url=server.base_url))
    return out, result


@pytest.mark.slow
def test_each_candidate_is_scored_on_each_benchmark_and_the_mean_is_its_fitness(
        two_models, digits_bench):
    out, result = two_models
    assert _labels(out) == ["digits", "mnist_cnn"] and result.benches == _labels(out)
    store = RunStore(out / "run.db")
    records = store.candidates()
    store.close()
    valid = [r for r in records if r.valid]
    assert any(not r.is_seed for r in valid) and any(r.is_seed for r in valid)
    for record in valid:
        scores = record.bench_scores
        assert set(scores) == {"digits", "mnist_cnn"}
        # each benchmark's table has that model's layer count
        assert len(scores["digits"]["table"]) != len(scores["mnist_cnn"]["table"])
        assert record.fitness == pytest.approx(np.mean([s["fitness"] for s in scores.values()]))
        # the digits benchmark's select split is too small for iso-budget bands: the
        # select figure is the mnist benchmark's (the same for every candidate)
        selects = [s["metrics"]["spearman_iso_select"] for s in scores.values()]
        assert math.isnan(selects[0]) and math.isfinite(selects[1])
        assert record.metrics["spearman_iso_select"] == pytest.approx(selects[1])
    # per-benchmark fitness as tapq proxy eval finds it on each benchmark alone
    fisher = next(r for r in records if r.hint == "baseline:fisher")
    for label, bench in (("digits", digits_bench), ("mnist_cnn", DEFAULT_BENCH)):
        [alone] = evaluate_proxies(bench, ["fisher"])
        assert fisher.bench_scores[label]["fitness"] == pytest.approx(alone.spearman_iso)
        assert fisher.bench_scores[label]["metrics"]["target"] == alone.target
    # run.db holds them in its own column, readable without tapq
    with sqlite3.connect(out / "run.db") as db:
        [(raw,)] = db.execute("SELECT bench_scores FROM candidates WHERE id = ?", (fisher.id,))
    assert set(json.loads(raw)) == {"digits", "mnist_cnn"}
    # the scripted fisher answer copies the fisher baseline on both benchmarks
    copies = [r for r in records if r.response == GOOD["fisher"] and r.duplicate_of is None]
    assert copies and all(r.copy_of == fisher.id for r in copies)
    best = result.summary.best
    assert best is not None and best.novel
    # the final check runs on every benchmark searched, the proxy file in the sandbox
    assert set(result.finals) == {"digits", "mnist_cnn"} and result.final == result.finals[
        "digits"]
    for label, final in result.finals.items():
        assert final[0].proxy == "best_proxy"
        assert final[0].spearman_iso == pytest.approx(best.bench_scores[label]["fitness"])
    # it searched the one benchmark named for transfer: the check says so in one line
    assert result.transfer == []
    assert result.transfer_notes == [("transfer check: no other benchmark to judge on (the "
                                     "run searched every one of: mnist-cnn)")]


@pytest.mark.slow
def test_a_multi_benchmark_run_replays_exactly(two_models, digits_bench, tmp_path):
    first, _ = two_models
    again = tmp_path / "again"  # the fake server is gone: every answer comes from the cache
    discover(_config(again, [digits_bench, DEFAULT_BENCH], replay=first), final_check=False)
    a, b = RunStore(first / "run.db"), RunStore(again / "run.db")
    try:
        def outcome(r: CandidateRecord) -> tuple:
            return (r.code_hash, r.fitness, r.copy_of, json.dumps(r.bench_scores))
        assert [outcome(r) for r in a.candidates()] == [outcome(r) for r in b.candidates()]
        assert all(r.cached for r in b.candidates() if not r.is_seed)
    finally:
        a.close(), b.close()


@pytest.mark.slow
def test_a_finished_multi_benchmark_run_resumes_for_more_generations(two_models, digits_bench,
                                                                    tmp_path):
    first, _ = two_models
    out = tmp_path / "longer"
    shutil.copytree(first, out)
    with FakeOpenAI(_respond) as server:
        discover(_config(out, [digits_bench, DEFAULT_BENCH], generations=3), resume=True,
                 backend=OpenAIBackend("fake", base_url=server.base_url), final_check=False)
    store = RunStore(out / "run.db")
    try:
        assert [g.generation for g in store.generations()] == [0, 1, 2]
        latest = store.of_generation(2).values()
        assert all(set(r.bench_scores) == {"digits", "mnist_cnn"} for r in latest if r.valid)
    finally:
        store.close()


@pytest.mark.slow
def test_min_fitness_from_the_cli_then_a_transfer_check_with_intervals_and_a_report(
        digits_bench, kl_twin, tmp_path):
    """Two ground truths of the digits model, fitness = the worse of the two; the run ends
    with the transfer check on the shipped mnist benchmark (test split only), and the
    report shows it."""
    out = tmp_path / "run"
    with FakeOpenAI(_respond) as server:
        done = subprocess.run(
            [sys.executable, "-m", "tapq.cli", "--quiet", "discover", "--out", str(out),
             "--bench", str(digits_bench), "--bench", str(kl_twin), "--fitness", "min",
             "--llm", "openai:fake", "--llm-base-url", server.base_url, "--generations", "1",
             "--population", "3", "--seed", "2", "--compare-budget", "none", "--json",
             "--transfer", "mnist-cnn"],
            env={**os.environ, "OPENAI_API_KEY": "unused"}, capture_output=True, text=True,
            timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["benches"] == ["digits", "digits_kl"] and found["fitness_rule"] == "min"
    store = RunStore(out / "run.db")
    records = [r for r in store.candidates() if r.valid]
    store.close()
    for record in records:
        per = [s["fitness"] for s in record.bench_scores.values()]
        assert record.fitness == pytest.approx(min(per))
        assert {s["metrics"]["target"] for s in record.bench_scores.values()} == {"accuracy",
                                                                                  "kl"}
    # the targets really differ: some table ranks differently against accuracy and KL
    assert any(abs(np.diff([s["fitness"] for s in r.bench_scores.values()])[0]) > 1e-6
               for r in records)

    rows, notes = found["transfer"]["rows"], found["transfer"]["notes"]
    assert notes == [] and {r["bench"] for r in rows} == {"mnist-cnn"}  # its shipped name
    novel = next(r for r in rows if r["role"] == "novel")
    seed = next(r for r in rows if r["role"] == "seed")
    assert novel["proxy"].startswith("best novel (#") and seed["proxy"].startswith("best seed")
    # the reference is mnist's best human proxy on its search split, not on test
    baselines = evaluate_proxies(DEFAULT_BENCH, split="test")
    human = best_human(baselines).proxy
    assert novel["reference"] == human
    assert [r["name"] for r in rows if r["is_reference"]] == [human]
    # the proxy file, judged independently on the test split, scores what was stored
    alone, _ = evaluate_proxies(DEFAULT_BENCH, [str(out / "best_proxy.py"), human],
                               split="test", reference=human)
    assert novel["spearman_iso_test"] == pytest.approx(alone.spearman_iso_test)
    low, high = novel["spearman_iso_ci"]
    assert low <= novel["spearman_iso_test"] <= high
    d_low, d_high = novel["delta_iso_ci"]
    assert novel["delta_iso"] == pytest.approx(alone.delta_iso)
    assert novel["verdict"] == ("beats" if d_low > 0 else "loses to" if d_high < 0 else
                                "indistinguishable from")
    assert [r["role"] for r in key_rows(rows)][:2] == ["novel", "seed"]

    from tapq.report import write_report

    report = write_report(run=out, budgets=(3.0,), sweep_ptq="rtn")
    text = report.html.read_text()
    assert "Transfer to other benchmarks" in text and "Benchmarks searched" in text
    assert "mnist-cnn" in text and novel["verdict"] in text and f"{low:+.3f}" in text


def test_a_copy_must_rank_alike_on_every_benchmark(tmp_path):
    """Novelty with two benchmarks: a table that ranks like a seed's on one benchmark but
    not on the other is a new proxy; one that ranks alike on both is a copy."""
    store = RunStore(tmp_path / "run.db")
    rng = np.random.default_rng(0)
    a, b = rng.random((4, 3)) + np.arange(3), rng.random((6, 3)) + np.arange(3)

    def record(slot: int, tables: dict) -> CandidateRecord:
        return CandidateRecord(
            generation=0, slot=slot, operator="init", hint="fisher", parents=[], prompt=[],
            response="", thought="", code=None, code_hash=None, status=Status.OK,
            fitness=0.5, table=tables["a"].tolist(),
            bench_scores={k: {"fitness": 0.5, "metrics": {}, "table": t.tolist()}
                          for k, t in tables.items()})
    try:
        seed = record(0, {"a": a, "b": b})
        store.add_candidate(seed)
        judge = NoveltyJudge(store, ["a", "b"])
        half = record(1, {"a": 2 * a, "b": rng.random((6, 3))})
        judge.judge(half)
        assert half.copy_of is None
        both = record(2, {"a": 3 * a + 1, "b": b ** 2})  # monotone: the same rankings
        judge.judge(both)
        assert both.copy_of == seed.id
    finally:
        store.close()


def test_transfer_targets_leave_out_what_was_searched(tmp_path):
    copy = tmp_path / "mnist_copy.db"
    shutil.copy(DEFAULT_BENCH, copy)
    assert "mnist-cnn" in shipped_benches()
    assert "mnist-cnn" not in transfer_targets([DEFAULT_BENCH])
    assert "mnist-cnn" not in transfer_targets([copy])  # a byte-identical copy: the same
    other = tmp_path / "other.db"
    other.write_bytes(b"another benchmark")
    assert transfer_targets([other]) == shipped_benches()  # by default, every shipped one
    assert named_benches((DEFAULT_BENCH, other)) == {"mnist-cnn": DEFAULT_BENCH, "other": other}


def test_nothing_to_transfer_is_said_in_one_line_and_stored(tmp_path):
    store = RunStore(tmp_path / "run.db")
    try:
        assert store.transfer() is None  # not finished yet
        skipped = run_transfer_check(store, tmp_path, [DEFAULT_BENCH], shipped={})
        assert skipped == ([], ["transfer check: skipped (no benchmark named to judge on)"])
        nothing = run_transfer_check(store, tmp_path, [DEFAULT_BENCH],
                                     shipped={"other": tmp_path / "other.db"})
        assert nothing == ([], [("transfer check: no novel proxy to transfer (nothing was "
                                "discovered)")])
        assert store.transfer() == nothing
    finally:
        store.close()


DELTA_KL = ("Thought: the measured KL change with this layer alone quantized.\n```python\n"
            "def sensitivity(layer, bits):\n"
            "    return float(layer.delta_kl[bits]) + 1e-9 * layer.num_params / bits\n```\n")


@pytest.mark.slow
def test_opt_in_statistics_reach_prompts_candidates_and_the_final_check(digits_bench,
                                                                       tmp_path):
    """`discover --stats +delta_loss`: the prompt offers delta_kl, a candidate reading it
    is scored (not failed on NaN), and the final check on the test split reads it too."""
    config = DiscoverConfig(bench=digits_bench, out=tmp_path / "run", transfer=(),
                            llm=LLMConfig(spec="openai:fake"), limits=LIMITS,
                            search=SearchConfig(generations=1, population=2, seed=4),
                            stats="+delta_loss")
    with FakeOpenAI(lambda request, index: DELTA_KL) as server:
        result = discover(config, backend=OpenAIBackend("fake", base_url=server.base_url))
        prompts = [json.dumps(r["messages"]) for r in server.requests]
    assert prompts and all("layer.delta_kl" in p and "layer.delta_loss[bits]" in p
                           for p in prompts)
    store = RunStore(tmp_path / "run" / "run.db")
    try:
        records = [r for r in store.candidates() if not r.is_seed]
    finally:
        store.close()
    assert records[0].status == "ok" and math.isfinite(records[0].fitness)
    assert result.best_proxy is not None and "delta_kl" in result.best_proxy.read_text()
    novel = result.final[0]
    assert novel.error is None and math.isfinite(novel.spearman_iso_test)
