"""The TAP loop: ask the LLM for proxies, score them in the sandbox, evolve, repeat.

Generation 0 asks for `population` candidates with the ``init`` operator; every later
generation asks for `children` candidates, each with a strategy (operator x hint) drawn
from the controller's policy and parents drawn from the population. After a generation
the controller learns from its candidates' fitness and the population keeps the best.

Every random choice of slot s in generation g comes from a generator seeded with
(seed, g, s), and the controller and population change only between generations, so a
run killed mid-generation and resumed draws exactly what an uninterrupted run would have
drawn; stored candidates are not asked again (see store.py).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tapq.bench import DEFAULT_BENCH, BenchStore
from tapq.bench.analysis import BenchData, noise_ceiling_iso
from tapq.discover.candidate import code_hash, parse_answer
from tapq.discover.controller import ControllerConfig, StrategyController
from tapq.discover.llm import LLMBackend, make_backend
from tapq.discover.llm_cache import CachedBackend, ResponseCache
from tapq.discover.population import Member, select_parents, survivors
from tapq.discover.prompting import (STOP, Parent, Strategy, TaskContext, all_strategies,
                                     build_messages, task_context)
from tapq.sandbox import SandboxLimits, SandboxResult, save_stats_for_sandbox
from tapq.sandbox.job import SandboxJob
from tapq.discover.store import CandidateRecord, GenerationRecord, RunStore
from tapq.errors import TapqError
from tapq.executors import Executor, make_executor
from tapq.progress import StepBar
from tapq.proxies.fitness import config_scores, fitness
from tapq.proxies.scoring import bench_for_scoring

log = logging.getLogger("tapq.discover")
RUN_DB = "run.db"
# Settings that must match for --resume to continue a run rather than start another.
_RESUME_KEYS = ("bench", "llm", "population", "children", "seed", "controller",
                "temperature", "max_tokens", "repair_rate")


@dataclass(frozen=True)
class DiscoverConfig:
    """Attributes:
        bench: the ground-truth benchmark fitness is measured on.
        out: the run folder (database, log, best_proxy.py, leaderboard).
        llm: ``embedded`` (offline default) or ``openai:MODEL``.
        llm_base_url: endpoint of an OpenAI-compatible server.
        api_key_env: environment variable holding the API key.
        llm_threads: threads for the embedded model (None: what is free).
        generations: generations including the initial one.
        population: candidates kept; also how many the initial generation asks for.
        children: candidates asked per later generation (None: = population).
        seed: seeds every random choice and every LLM request.
        controller: ``dpo`` or ``uniform`` (ablation).
        temperature, max_tokens: LLM sampling.
        repair_rate: chance that a mutation repairs a failed candidate of the previous
            generation (its error shown to the LLM) instead of improving a survivor.
        replay: a finished run's folder: answer every request from its LLM cache (an
            exact replay without the LLM; a request it never made is an error).
        limits: sandbox limits per candidate.
        executor: where candidates are evaluated: ``local`` or ``ray`` (tapq.executors).
        workers: local worker processes evaluating candidates (1: one after another, in
            this process's sandbox), or the CPUs of a private local Ray instance.
        ray_address: the Ray cluster to evaluate on (``ray`` only).
        device: where the layer statistics are computed if not cached (not a resume
            key: statistics agree across devices within float tolerance).
    The executor and device change where work runs, never what candidates score, so a
    run may be resumed with other ones.
    """

    bench: Path = DEFAULT_BENCH
    out: Path = Path("tapq-run")
    llm: str = "embedded"
    llm_base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    llm_threads: int | None = None
    generations: int = 3
    population: int = 6
    children: int | None = None
    seed: int = 0
    controller: str = "dpo"
    temperature: float = 0.8
    max_tokens: int = 400
    repair_rate: float = 0.25
    replay: Path | None = None
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    device: str = "cpu"

    def resume_key(self) -> dict:
        values = dataclasses.asdict(self)
        values["bench"] = str(Path(self.bench).resolve())
        return {k: values[k] for k in _RESUME_KEYS}


@dataclass
class _Search:
    """What one generation needs: the benchmark data, the sandbox and the prompt context."""

    data: BenchData
    job: SandboxJob
    context: TaskContext


def _fitness_of(table: np.ndarray, data: BenchData) -> dict:
    scores = config_scores(table, data.bit_choices, data.bits)
    return fitness("candidate", scores, data.accuracy, data.avg_bits, data.is_val, 0.0).to_json()


def check_resumable(store: RunStore, config: DiscoverConfig, resume: bool) -> bool:
    """Whether `store` holds a started run; TapqError if this configuration may not
    continue it (no `resume`, or other settings)."""
    started = store.count() > 0
    if not started:
        return False
    if not resume:
        raise TapqError(f"{config.out} already holds a run; add --resume to continue it, "
                        "or choose another --out")
    stored, key = store.meta().get("config") or {}, config.resume_key()
    changed = [k for k in key if stored.get(k) != key[k]]
    if changed:
        raise TapqError(f"cannot resume {config.out}: it was started with other settings "
                        f"({', '.join(changed)})")
    return True


class _NoLLM:
    """Stands in for the LLM of a replayed run: it has that LLM's name, never answers."""

    def __init__(self, name: str):
        self.name = name

    def complete(self, *args, **kwargs):
        raise TapqError("replay: the request is not in the source run's cache")


def _replay_source(store: RunStore, source: Path) -> _NoLLM:
    """Copy a finished run's LLM answers into `store`; a backend named like its LLM."""
    if not source.is_file():
        raise TapqError(f"nothing to replay: {source} does not exist")
    origin = RunStore(source)
    try:
        name = origin.meta().get("llm")
    finally:
        origin.close()
    if not name:
        raise TapqError(f"{source} is not a finished tapq discovery run")
    store.conn.execute("ATTACH DATABASE ? AS source", (str(source),))
    store.conn.execute("INSERT OR IGNORE INTO llm_cache SELECT * FROM source.llm_cache")
    store.conn.commit()
    store.conn.execute("DETACH DATABASE source")
    return _NoLLM(name)


class Discovery:
    """One run: its store, LLM, controller and population. `run()` does the rest."""

    def __init__(self, config: DiscoverConfig, resume: bool = False,
                 backend: LLMBackend | None = None):
        self.config = config
        self.executor: Executor = make_executor(config.executor, config.workers,
                                                config.ray_address)  # starts nothing yet
        out = Path(config.out)
        if resume and not (out / RUN_DB).is_file():
            raise TapqError(f"nothing to resume: {out} holds no run ({RUN_DB} is missing)")
        out.mkdir(parents=True, exist_ok=True)
        self.store = RunStore(out / RUN_DB)
        self._check_resume(resume)
        cache = ResponseCache(self.store.conn)
        if config.replay:
            backend = _replay_source(self.store, Path(config.replay) / RUN_DB)
        raw = backend or make_backend(config.llm, config.llm_base_url, config.api_key_env,
                                      config.llm_threads)
        self.llm = CachedBackend(raw, cache, replay_only=config.replay is not None)
        self.strategies = {s.key: s for s in all_strategies()}
        self.controller = StrategyController(list(self.strategies),
                                             ControllerConfig(kind=config.controller))
        self.population: list[Member] = []
        self.search = self._prepare(out)

    def _check_resume(self, resume: bool) -> None:
        if not check_resumable(self.store, self.config, resume):
            self.store.set_meta(config=self.config.resume_key(), started=time.time())

    def _prepare(self, out: Path) -> _Search:
        data, stats = bench_for_scoring(self.config.bench, self.config.device)
        bench = BenchStore(self.config.bench)
        try:
            ceiling = noise_ceiling_iso(bench)
        finally:
            bench.close()
        stats_path = out / "stats.pt"
        save_stats_for_sandbox(stats, stats_path)
        context = task_context(stats, data.bit_choices, ceiling if math.isfinite(ceiling)
                               else 1.0)
        self.store.set_meta(llm=self.llm.name, layers=[s.name for s in stats],
                            bit_choices=data.bit_choices, noise_ceiling_iso=ceiling)
        job = SandboxJob.from_file(stats_path, data.bit_choices, self.config.limits)
        return _Search(data, job, context)

    # ----------------------------------------------------------------- the loop
    def run(self) -> list[GenerationRecord]:
        """Run (or finish) every generation; returns the generation records."""
        done = self.store.generations()
        if done:
            last = done[-1]
            self.controller.theta = np.array(last.theta)
            by_id = {c.id: c for c in self.store.candidates()}
            self.population = [self._member(by_id[i]) for i in last.population]
        for generation in range(len(done), self.config.generations):
            self._generation(generation)
        return self.store.generations()

    def _slots(self, generation: int) -> int:
        if generation == 0:
            return self.config.population
        return self.config.children or self.config.population

    def _generation(self, generation: int) -> None:
        stored = {c.slot: c for c in self.store.candidates("generation = ?", (generation,))}
        slots = self._slots(generation)
        best = max([m.fitness for m in self.population], default=float("-inf"))
        failures = [c for c in self.store.candidates("generation = ? AND fitness IS NULL AND "
                                                     "code IS NOT NULL", (generation - 1,))]
        missing = [slot for slot in range(slots) if slot not in stored]
        with StepBar(slots, self._label(generation, best), completed=len(stored)) as bar:
            for record in self._produce(generation, missing, failures):
                stored[record.slot] = record
                best = max(best, record.fitness)
                bar.advance(self._label(generation, best))
        records = [stored[s] for s in range(slots)]
        loss = self.controller.update([(r.strategy, r.fitness) for r in records])
        self.population = survivors(self.population + [self._member(r) for r in records],
                                    self.config.population)
        probabilities = dict(zip(self.controller.keys,
                                 map(float, self.controller.probabilities())))
        best = self.population[0].fitness if self.population else float("-inf")
        self.store.add_generation(GenerationRecord(
            generation, [m.id for m in self.population], self.controller.theta.tolist(),
            probabilities, loss, best))
        valid = sum(math.isfinite(r.fitness) for r in records)
        log.info("generation %d: %d/%d valid, best %.4f, dpo loss %.4f", generation, valid,
                 len(records), best, loss)

    def _label(self, generation: int, best: float) -> str:
        shown = f"{best:.3f}" if math.isfinite(best) else "-"
        return f"generation {generation + 1}/{self.config.generations}  best {shown}"

    @staticmethod
    def _member(record: CandidateRecord) -> Member:
        return Member(record.id, record.fitness, record.generation, record.code_hash or "",
                      record.slot)

    # ------------------------------------------------------------ one candidate
    def _choose(self, generation: int, slot: int,
                failures: list[CandidateRecord]) -> tuple[Strategy, list[CandidateRecord]]:
        """The strategy and parents of one slot, from its own seeded generator."""
        rng = np.random.default_rng([self.config.seed, generation, slot])
        allowed = ["init"]
        if generation > 0 and (self.population or failures):
            allowed.append("mutate")
        if generation > 0 and len(self.population) >= 2:
            allowed.append("crossover")
        keys = [k for k in self.controller.keys if self.strategies[k].operator in allowed]
        strategy = self.strategies[self.controller.sample(rng, keys)]
        if strategy.operator == "init":
            return strategy, []
        if strategy.operator == "mutate" and failures and (
                not self.population or rng.random() < self.config.repair_rate):
            return strategy, [failures[rng.integers(len(failures))]]
        count = 1 if strategy.operator == "mutate" else 2
        members = select_parents(self.population, count, rng)
        return strategy, [self.store.candidate(m.id) for m in members]

    def _produce(self, generation: int, slots: list[int],
                 failures: list[CandidateRecord]) -> Iterator[CandidateRecord]:
        """Ask the LLM for every slot in `slots`, evaluate the new programs on the
        executor and store each record as soon as it is complete; yields the records.

        The LLM is asked one slot after another (each request is cached in the run, so a
        killed run asks nothing twice). With one local worker each program is evaluated
        before the next slot is asked, exactly in slot order; otherwise all of a
        generation's programs are evaluated in parallel and stored as they finish. A
        program already evaluated (in an earlier slot or generation) is not run again.
        """
        ready: list[CandidateRecord] = []          # complete, not yet stored
        waiting: dict[str, list[CandidateRecord]] = {}  # code hash -> drafts to evaluate
        sent: list[str] = []                       # the hash of each program sent out

        def programs():
            for slot in slots:
                record = self._draft(generation, slot, failures)
                if record.code_hash is None:       # no program in the answer
                    ready.append(record)
                elif record.code_hash in waiting:  # identical to one being evaluated
                    waiting[record.code_hash].append(record)
                elif (original := self.store.first_with_hash(record.code_hash)) is not None:
                    ready.append(_copy_outcome(record, original))
                else:
                    waiting[record.code_hash] = [record]
                    sent.append(record.code_hash)
                    yield record.code

        def flush():
            while ready:
                yield self._store(ready.pop(0))

        try:
            for index, result in self.executor.map_unordered(self.search.job, programs(),
                                                             chunk=1):
                yield from flush()
                original, *copies = waiting.pop(sent[index])
                self._fill(original, result)
                yield self._store(original)
                for copy in copies:
                    yield self._store(_copy_outcome(copy, original))
        except Exception:
            for record in ready:  # complete already: keep them for --resume
                self._store(record)
            raise
        yield from flush()

    def _draft(self, generation: int, slot: int,
               failures: list[CandidateRecord]) -> CandidateRecord:
        """Slot `slot`'s candidate as the LLM answered, not yet evaluated."""
        strategy, parents = self._choose(generation, slot, failures)
        messages = build_messages(strategy, [Parent(p.thought, p.code or "", p.fitness,
                                                    p.error) for p in parents],
                                  self.search.context)
        request_seed = self.config.seed * 1_000_003 + generation * 1_000 + slot
        answer = self.llm.complete(messages, self.config.temperature, self.config.max_tokens,
                                   seed=request_seed, stop=STOP)
        parsed = parse_answer(answer.text)
        return CandidateRecord(
            generation, slot, strategy.operator, strategy.hint, [p.id for p in parents],
            messages, answer.text, parsed.thought, parsed.code,
            code_hash(parsed.code) if parsed.code is not None else None, "no-code",
            parsed.error, float("-inf"), prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens, llm_seconds=answer.seconds,
            cached=answer.cached)

    def _store(self, record: CandidateRecord) -> CandidateRecord:
        record.id = self.store.add_candidate(record)
        log.info("g%d s%d %s: %s %s", record.generation, record.slot, record.strategy,
                 record.status, f"{record.fitness:.4f}" if math.isfinite(record.fitness)
                 else record.error)
        return record

    def _fill(self, record: CandidateRecord, result: SandboxResult) -> None:
        """Status, fitness and metrics of `record` from its sandbox result."""
        record.eval_seconds = result.seconds
        record.status = result.status
        if result.status != "ok":
            record.error = result.error
            return
        record.table = result.table.tolist()
        record.metrics = _fitness_of(result.table, self.search.data)
        record.fitness = record.metrics["spearman_iso"]
        if not math.isfinite(record.fitness):
            record.status, record.error = "error", "fitness is undefined (constant scores)"
            record.fitness = float("-inf")

    def close(self) -> None:
        self.executor.close()
        self.store.close()


def _copy_outcome(record: CandidateRecord, original: CandidateRecord) -> CandidateRecord:
    """`record`, a program identical to `original`, with `original`'s outcome."""
    record.duplicate_of = original.id
    record.status, record.error, record.fitness = (original.status, original.error,
                                                   original.fitness)
    record.metrics, record.table = original.metrics, original.table
    return record
