"""Seeds: what the run must beat, scored before the LLM is asked anything.

Every human baseline (tapq.proxies) and every hint's starting-point body (prompts) is
scored on the benchmark(s) exactly like a candidate and stored as a seed (operator ``seed``,
generation -1). They are the reference for novelty -- a candidate that ranks like a seed
is a copy, not a discovery -- the target every prompt shows, and the hints' bodies are
the first parents. Both are the package's own code and run in this process: a seed's
score never depends on the sandbox's wall-clock limit or on how busy the machine is, so
a replay or a resume sees the very same seeds.
"""
from __future__ import annotations

import time

import numpy as np

from tapq.discover.candidate import HEADER, code_hash
from tapq.discover.prompting import load_hints
from tapq.discover.scoring import NoveltyJudge, score
from tapq.discover.store import SEED, SEED_GENERATION, CandidateRecord, RunStore, Status
from tapq.discover.task import SearchTask
from tapq.proxies import BASELINE_PROXIES, proxy_table

__all__ = ["BASELINE_PREFIX", "baseline_tables", "best_seed", "hint_program", "score_seeds",
           "seed_name"]

BASELINE_PREFIX = "baseline:"


def hint_program(hint: str) -> str:
    """A hint's starting body as a whole program, as its init prompt shows it."""
    return f"{HEADER}\ndef sensitivity(layer, bits):\n{load_hints()[hint].body}\n"


def seed_name(record: CandidateRecord) -> str:
    """How a seed is named to people and to the LLM: ``fisher (human baseline)`` or
    ``fisher (starting body of a hint)``."""
    if record.hint.startswith(BASELINE_PREFIX):
        return f"{record.hint[len(BASELINE_PREFIX):]} (human baseline)"
    return f"{record.hint} (hint's starting body)"


def _record(slot: int, hint: str, thought: str, code: str | None) -> CandidateRecord:
    return CandidateRecord(generation=SEED_GENERATION, slot=slot, operator=SEED, hint=hint,
                           parents=[], prompt=[], response="", thought=thought, code=code,
                           code_hash=code_hash(code) if code else None, status=Status.OK)


def score_seeds(store: RunStore, task: SearchTask) -> list[CandidateRecord]:
    """Score and store every baseline and hint body as a seed (once per run); returns
    the run's seeds. Copies among the seeds are marked too (the ``fisher`` hint's body is
    the ``fisher`` baseline)."""
    done = store.seeds()
    if done:
        return done
    records = []
    for name, proxy in BASELINE_PROXIES.items():
        record = _record(len(records), BASELINE_PREFIX + name,
                         (proxy.__doc__ or name).strip().splitlines()[0], None)
        _score(record, proxy, task)
        records.append(record)
    for name, hint in load_hints().items():
        record = _record(len(records), name, hint.text, hint_program(name))
        _score(record, _compiled(record.code), task)
        records.append(record)
    judge = NoveltyJudge(store, task.labels)
    for record in records:
        judge.judge(record)
        store.add_candidate(record)
        judge.learn(record)
    return store.seeds()


def _compiled(code: str):
    """The ``sensitivity`` of one of the package's own hint programs."""
    namespace: dict = {}
    exec(compile(code, "<hint>", "exec"), namespace)  # noqa: S102 -- our own prompts file
    return namespace["sensitivity"]


def _score(record: CandidateRecord, proxy, task: SearchTask) -> None:
    """Score one seed on every benchmark's statistics."""
    start = time.perf_counter()
    try:
        score(record, [proxy_table(b.stats, proxy, b.data.bit_choices) for b in task.benches],
              task)
    except Exception as error:  # noqa: BLE001 -- a seed failing on this network is recorded
        record.status, record.error = Status.ERROR, f"{type(error).__name__}: {error}"
    record.eval_seconds = time.perf_counter() - start


def best_seed(seeds: list[CandidateRecord]) -> CandidateRecord | None:
    """The seed with the best search fitness (None when none is valid)."""
    valid = [s for s in seeds if s.valid]
    return max(valid, key=lambda s: s.fitness, default=None)


def baseline_tables(seeds: list[CandidateRecord]) -> dict[str, np.ndarray]:
    """The baselines' tables by name, as the seeds recorded them."""
    return {s.hint[len(BASELINE_PREFIX):]: np.array(s.table) for s in seeds
            if s.hint.startswith(BASELINE_PREFIX) and s.table is not None}
