"""The symbolic baseline (--search gp): typed expression trees, their programs, the loop.

Its candidates must be what an LLM's are -- programs that pass the same screen, run in the
same sandbox and depend on bits -- and its runs must be reproducible from the seed and
resume to exactly the uninterrupted result.
"""
from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tapq.bench import DEFAULT_BENCH
from tapq.discover import (
    DiscoverConfig,
    GPConfig,
    LLMConfig,
    RunStore,
    SearchConfig,
    discover,
)
from tapq.discover.gp import program
from tapq.discover.gp.trees import (
    Node,
    crossover,
    depth,
    initial_tree,
    kind_of,
    parse,
    point_mutation,
    subtree_mutation,
    usable,
    valid_shape,
)
from tapq.errors import TapqError
from tapq.proxies import model_stats
from tapq.sandbox import SandboxLimits, sandboxed_proxy_table, screen

BITS = [2, 4, 8]
LIMITS = SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=1024)
FISHER = parse("(sum (mul fisher (square err)))")


def _trees(count: int, seed: int = 0) -> list[Node]:
    """Initial trees and children of every kind of variation, as the search makes them."""
    rng = np.random.default_rng(seed)
    pool = [initial_tree(rng, slot, 4) for slot in range(count)]
    children = []
    for i, tree in enumerate(pool):
        other = pool[(i + 1) % len(pool)]
        children += [crossover(rng, tree, other), subtree_mutation(rng, tree),
                     point_mutation(rng, tree)]
    return pool + children


def _in_process(code: str):
    namespace: dict = {}
    exec(compile(code, "<gp>", "exec"), namespace)  # noqa: S102 (our own rendered code)
    return namespace["sensitivity"]


@pytest.fixture(scope="module")
def stats(digits_model, digits):
    return model_stats(digits_model, digits)


def test_trees_are_well_typed_scalar_expressions_that_round_trip_as_text():
    trees = _trees(60)
    assert all(valid_shape(t) for t in trees)
    assert all(parse(str(t)) == t for t in trees)
    assert all(usable(t) for t in trees[:60])  # initial trees read bits and the layer
    assert len({str(t) for t in trees}) > 0.8 * len(trees)  # variation changes things
    assert max(depth(t) for t in trees) > 2


def test_shapes_that_cannot_meet_are_refused():
    with pytest.raises(ValueError):  # a weight times the activation rows
        kind_of(parse("(sum (mul weight act_in))"))
    with pytest.raises(ValueError):
        parse("(sum weight")
    assert kind_of(parse("(mul (sum act_in) err)")) == "W"  # a scalar broadcasts
    assert not usable(parse("(sum weight)")) and not usable(parse("(mul bits step)"))


def test_rendered_programs_pass_the_screen_and_depend_on_bits(stats):
    codes = [program(t) for t in _trees(40, seed=1) if usable(t)]  # what the search keeps
    assert all(screen(code) is None for code in codes)
    tables = []
    for code in codes:
        function = _in_process(code)
        table = np.array([[function(layer, b) for b in BITS] for layer in stats])
        if np.isfinite(table).all():
            tables.append(table)
    assert len(tables) >= 0.8 * len(codes)  # protected operators: few overflow
    bit_dependent = [t for t in tables if np.ptp(t, axis=1).max() > 0]
    assert len(bit_dependent) >= 0.9 * len(tables)


def test_a_rendered_expression_computes_what_it_says_in_the_sandbox(stats):
    table = sandboxed_proxy_table(program(FISHER), stats, BITS, LIMITS)
    expected = np.array([[float((s.fisher.double() * (s.weight - s.quant(b)).double() ** 2)
                                .sum()) for b in BITS] for s in stats])
    np.testing.assert_allclose(table, expected, rtol=1e-6)
    assert (np.diff(table, axis=1) < 0).all()  # more bits, less error


def _config(out: Path, generations: int, seed: int = 5, seeds: bool = False
            ) -> DiscoverConfig:
    return DiscoverConfig(bench=DEFAULT_BENCH, out=out, limits=LIMITS,
                          search=SearchConfig(kind="gp", generations=generations, population=3,
                                              children=3, seed=seed, seeds=seeds))


def _outcomes(out: Path) -> list[tuple]:
    store = RunStore(out / "run.db")
    try:
        return [(r.generation, r.slot, r.operator, r.response, r.code_hash, r.status,
                 r.fitness, r.parents, r.copy_of) for r in sorted(
                     store.candidates(), key=lambda r: (r.generation, r.slot))
                if not r.is_seed]
    finally:
        store.close()


@pytest.mark.slow
def test_a_gp_run_is_fixed_by_its_seed_and_resumes_to_the_same_result(tmp_path):
    whole = discover(_config(tmp_path / "whole", 2, seeds=True), final_check=False)
    discover(_config(tmp_path / "parts", 1, seeds=True), final_check=False)
    discover(_config(tmp_path / "parts", 2, seeds=True), resume=True, final_check=False)
    assert _outcomes(tmp_path / "parts") == _outcomes(tmp_path / "whole")
    store = RunStore(tmp_path / "whole" / "run.db")
    try:  # the seeds are scored as in an LLM run, as novelty's reference, never parents
        seeds = {s.id for s in store.seeds()}
        assert len(seeds) >= 9
        assert not seeds & set(store.generations()[-1].population)
    finally:
        store.close()
    records = _outcomes(tmp_path / "whole")
    assert [r[2] for r in records[:3]] == ["init"] * 3
    assert {r[2] for r in records[3:]} <= {"crossover", "mutate"} and all(r[7] for r in records[3:])
    assert len({r[4] for r in records}) == len(records)  # no program drawn twice
    assert any(math.isfinite(r[6]) for r in records)
    # stored like an LLM run: the best as a proxy file, generations, a summary
    assert whole.best_proxy.read_text().count("def sensitivity(layer, bits)") == 1
    assert whole.summary.candidates == 6 and whole.llm.startswith("none")
    other = discover(_config(tmp_path / "other", 1, seed=6), final_check=False)
    assert [r[3] for r in _outcomes(tmp_path / "other")] != [r[3] for r in records[:3]]
    assert other.summary.candidates == 3


def test_resume_keys_hold_only_the_chosen_search_settings(tmp_path):
    gp_key = _config(tmp_path, 1).resume_key()
    assert gp_key["search"] == "gp" and "gp_tournament" in gp_key
    assert not {"llm", "temperature", "max_tokens", "controller", "repair_rate"} & set(gp_key)
    llm_key = DiscoverConfig(out=tmp_path).resume_key()
    assert llm_key["search"] == "llm" and "temperature" in llm_key
    assert not any(k.startswith("gp_") for k in llm_key)
    with pytest.raises(ValueError):
        SearchConfig(kind="annealing")


@pytest.mark.slow
def test_a_gp_folder_is_not_resumed_as_an_llm_run_and_a_gp_run_asks_no_llm(tmp_path):
    config = _config(tmp_path / "run", 1)
    discover(replace(config, search=replace(config.search, population=2)), final_check=False)
    llm = DiscoverConfig(bench=DEFAULT_BENCH, out=tmp_path / "run",
                         llm=LLMConfig(spec="openai:fake"))
    with pytest.raises(TapqError, match="other settings"):
        discover(llm, resume=True, final_check=False)
    with pytest.raises(TapqError, match="asks no LLM"):
        discover(replace(config, replay=tmp_path / "run"), resume=True, final_check=False)


@pytest.mark.slow
def test_a_wall_time_budget_stops_the_search_between_generations(tmp_path):
    config = _config(tmp_path / "run", 50)
    budget = replace(config.search, gp=GPConfig(max_seconds=1.0))
    result = discover(replace(config, search=budget), final_check=False)
    assert 1 <= len(result.summary.generations) < 50


def test_the_cli_builds_a_gp_configuration_with_its_own_flags_only(tmp_path):
    from tapq.cli import build_parser
    from tapq.cli.discover import _config

    args = build_parser().parse_args(["discover", "--out", str(tmp_path / "gp"), "--search",
                                      "gp", "--gp-tournament", "2", "--max-seconds", "30"])
    config = _config(args)
    assert config.search.kind == "gp" and config.search.gp.tournament == 2
    assert config.search.gp.max_seconds == 30
    plain = _config(build_parser().parse_args(["discover", "--out", str(tmp_path / "llm")]))
    assert plain.search.kind == "llm" and plain.search.gp == GPConfig()


def test_the_cli_refuses_llm_flags_for_a_gp_search(tmp_path):
    for flags, word in ((["--search", "gp", "--temperature", "0.2"], "--temperature"),
                        (["--search", "gp", "--replay", str(tmp_path)], "--replay"),
                        (["--max-seconds", "9"], "--max-seconds")):
        done = subprocess.run([sys.executable, "-m", "tapq.cli", "discover", "--out",
                               str(tmp_path / "out"), *flags], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 2 and word in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()
