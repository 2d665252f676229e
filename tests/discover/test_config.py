"""Discovery settings: grouped, with the resume key derived from the fields themselves."""
from pathlib import Path

import pytest

from tapq.bench import DEFAULT_BENCH
from tapq.discover import (CandidateRecord, ControllerConfig, DiscoverConfig, ExecutionConfig,
                           LLMConfig, RunStore, SearchConfig, Status, check_resumable)
from tapq.errors import TapqError
from tapq.proxies import canonical_stats

# The resume key as runs stored it before the settings were grouped (flat, nine keys).
STORED_BEFORE_GROUPING = {"bench": str(DEFAULT_BENCH.resolve()), "llm": "embedded",
                          "population": 6, "children": None, "seed": 0, "controller": "dpo",
                          "temperature": 0.8, "max_tokens": 400, "repair_rate": 0.25}


def _started_run(path: Path, key: dict) -> RunStore:
    store = RunStore(path)
    store.set_meta(config=key, started=0.0)
    store.add_candidate(CandidateRecord(generation=0, slot=0, operator="init", hint="fisher",
                                        parents=[], prompt=[], response="", thought="",
                                        code=None, code_hash=None, status=Status.NO_CODE))
    return store


def test_the_resume_key_covers_what_changes_scores_and_nothing_else():
    key = DiscoverConfig().resume_key()
    assert {k: key[k] for k in STORED_BEFORE_GROUPING} == STORED_BEFORE_GROUPING
    assert set(key) - set(STORED_BEFORE_GROUPING) == {
        "controller_beta", "controller_lr", "controller_steps", "controller_floor",
        "controller_margin", "controller_reward", "prompts", "seeds", "search",
        "more_benches", "fitness", "stats"}
    assert key["search"] == "llm"  # a run stored before the choice existed was an LLM run
    moved = DiscoverConfig(llm=LLMConfig(base_url="http://x", threads=3),
                           search=SearchConfig(generations=9),
                           execution=ExecutionConfig(workers=4, device="cuda"))
    assert moved.resume_key() == key  # where and how long it runs is no resume key


def test_a_run_stored_before_the_grouping_resumes_and_other_settings_are_named(tmp_path):
    store = _started_run(tmp_path / "run.db", STORED_BEFORE_GROUPING)
    try:
        assert check_resumable(store, DiscoverConfig(out=tmp_path), resume=True)
        changed = DiscoverConfig(out=tmp_path, search=SearchConfig(
            seed=4, controller=ControllerConfig(beta=2.0)))
        with pytest.raises(TapqError, match=r"other settings \(seed, controller_beta\)"):
            check_resumable(store, changed, resume=True)
        with pytest.raises(TapqError, match="add --resume"):
            check_resumable(store, DiscoverConfig(out=tmp_path), resume=False)
    finally:
        store.close()


def test_the_benchmarks_and_the_fitness_rule_are_resume_settings(tmp_path):
    """A run stored before several benchmarks could be searched resumes as a one-benchmark
    mean run; another benchmark list or rule is named, not silently continued."""
    store = _started_run(tmp_path / "run.db", STORED_BEFORE_GROUPING)
    other = tmp_path / "other.db"
    other.write_bytes(b"")
    try:
        assert check_resumable(store, DiscoverConfig(out=tmp_path, fitness="mean"), resume=True)
        with pytest.raises(TapqError, match=r"other settings \(more_benches, fitness\)"):
            check_resumable(store, DiscoverConfig(out=tmp_path, more_benches=(other,),
                                                  fitness="min"), resume=True)
    finally:
        store.close()
    key = DiscoverConfig(more_benches=[str(other)], fitness="min").resume_key()
    assert key["more_benches"] == [str(other.resolve())] and key["fitness"] == "min"
    with pytest.raises(ValueError, match="unknown fitness"):
        DiscoverConfig(fitness="median")


def test_the_statistics_candidates_see_are_a_resume_setting(tmp_path):
    """A run stored before --stats existed saw the model's defaults; asking for the opt-in
    statistics changes what candidates read, so it is named, not silently continued."""
    store = _started_run(tmp_path / "run.db", STORED_BEFORE_GROUPING)
    try:
        assert check_resumable(store, DiscoverConfig(out=tmp_path), resume=True)
        with pytest.raises(TapqError, match=r"other settings \(stats\)"):
            check_resumable(store, DiscoverConfig(out=tmp_path, stats="+delta_loss"),
                            resume=True)
    finally:
        store.close()
    config = DiscoverConfig(stats=canonical_stats(" +delta_loss, ptq"))
    assert config.resume_key()["stats"] == "+ptq,delta_loss"
    assert config.stats_config.extra == ("ptq", "delta_loss")
    assert DiscoverConfig().stats_config.resolved(10_000).skipped() == ("ptq", "delta_loss")


def test_controller_settings_are_checked():
    with pytest.raises(ValueError, match="unknown controller"):
        ControllerConfig(kind="ppo")
    with pytest.raises(ValueError, match="beta and lr must be positive"):
        ControllerConfig(beta=float("nan"))
    with pytest.raises(ValueError, match="floor within"):
        ControllerConfig(floor=1.5)


def test_a_legacy_run_continues_as_it_was_asked_and_a_new_one_with_the_new_defaults(tmp_path):
    """Settings whose default changed (teaching prompts, seeds, improvement credit, lr)
    keep the stored run's way when left at their defaults; explicit values still count."""
    legacy = DiscoverConfig().settled({**STORED_BEFORE_GROUPING, "controller_lr": 1.0})
    assert legacy.search.prompts == "plain" and legacy.search.seeds is False
    assert legacy.search.controller.reward == "fitness"
    assert legacy.search.controller.lr == 1.0
    assert DiscoverConfig().settled(None) == DiscoverConfig()
    fresh = DiscoverConfig().settled(DiscoverConfig().resume_key())
    assert fresh == DiscoverConfig()
    assert fresh.search.prompts == "teach" and fresh.search.seeds is True
    store = _started_run(tmp_path / "run.db", STORED_BEFORE_GROUPING)
    try:
        assert check_resumable(store, DiscoverConfig(out=tmp_path), resume=True)
    finally:
        store.close()
