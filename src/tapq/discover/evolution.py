"""The TAP loop: ask the LLM for proxies, score them in the sandbox, evolve, repeat.

Generation 0 asks for `population` candidates with the ``init`` operator; every later
generation asks for `children` candidates, each with a strategy (operator x hint) drawn
from the controller's policy and parents drawn from the population. A generation is
drafted (every missing slot asked of the LLM, in slot order), its programs grouped by
normalised code, each new program evaluated once in the sandbox, and every record stored
in slot order; then the controller learns from the generation and the population keeps
the best.

Every random choice of slot s in generation g comes from a generator seeded with
(seed, g, s), and the controller and population change only between generations, so a
run killed mid-generation and resumed draws exactly what an uninterrupted run would have
drawn; stored candidates are not asked again and LLM answers are cached (store.py).
Everything the loop works with is assembled once (assembly.py) and handed in.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np

from tapq.discover.candidate import code_hash, parse_answer
from tapq.discover.config import DiscoverConfig
from tapq.discover.controller import StrategyController
from tapq.discover.credit import credits
from tapq.discover.llm_cache import CachedBackend
from tapq.discover.population import Member, select_parents, survivors
from tapq.discover.prompting import STOP
from tapq.discover.scoring import NoveltyJudge, fill
from tapq.discover.seeds import best_seed
from tapq.discover.store import CandidateRecord, GenerationRecord, RunStore, Status
from tapq.discover.strategies import Strategy
from tapq.discover.task import SearchTask
from tapq.discover.teaching import Prompter
from tapq.executors import Executor
from tapq.progress import StepBar

__all__ = ["Discovery", "SearchTask", "member_of"]
log = logging.getLogger("tapq.discover")


def member_of(record: CandidateRecord) -> Member:
    """What selection needs of a stored candidate. Its identity is the proxy, not the
    text: a program repeated verbatim, or one whose table ranks like an earlier one's,
    shares the first one's identity, so the population holds each proxy once."""
    identity = record.copy_of or record.duplicate_of or record.id
    return Member(record.id, record.fitness, record.generation, f"proxy:{identity}",
                  record.slot)


class Discovery:
    """One run's loop over generations; its collaborators are given, not built here."""

    def __init__(self, config: DiscoverConfig, store: RunStore, llm: CachedBackend,
                 executor: Executor, task: SearchTask, strategies: dict[str, Strategy],
                 controller: StrategyController, population: list[Member]):
        self.config, self.store, self.llm, self.executor = config, store, llm, executor
        self.task, self.strategies = task, strategies
        self.controller, self.population = controller, population
        self.novelty = NoveltyJudge(store, task.labels)
        self.prompter = Prompter(config.search.prompts, store, task)
        seed = best_seed(store.seeds())
        self.best_seed = seed.fitness if seed is not None else float("-inf")

    def run(self) -> list[GenerationRecord]:
        """Run (or finish) every generation; returns the generation records."""
        for generation in range(len(self.store.generations()), self.config.search.generations):
            self._generation(generation)
        return self.store.generations()

    def close(self) -> None:
        self.executor.close()
        self.store.close()

    # ------------------------------------------------------------- a generation
    def _generation(self, generation: int) -> None:
        stored = self.store.of_generation(generation)
        slots = (self.config.search.population if generation == 0
                 else self.config.search.children_per_generation)
        failures = self.store.failed_in(generation - 1)
        missing = [slot for slot in range(slots) if slot not in stored]
        drafts = self._drafts(generation, missing, failures, len(stored), slots)
        for record in self._evaluated(drafts, generation, len(stored), slots):
            stored[record.slot] = record
        records = [stored[s] for s in range(slots)]
        loss = self.controller.update(credits(
            records, self.config.search.controller.reward, self.store.candidate,
            self.best_seed))
        self.population = survivors(self.population + [member_of(r) for r in records
                                                       if r.code],
                                    self.config.search.population)
        probabilities = dict(zip(self.controller.keys,
                                 map(float, self.controller.probabilities())))
        best = self.population[0].fitness if self.population else float("-inf")
        self.store.add_generation(GenerationRecord(
            generation, [m.id for m in self.population], self.controller.theta.tolist(),
            probabilities, loss, best))
        log.info("generation %d: %d/%d valid, best %.4f, dpo loss %.4f", generation,
                 sum(r.valid for r in records), len(records), best, loss)

    def _label(self, generation: int, step: str) -> str:
        best = max((m.fitness for m in self.population), default=float("-inf"))
        shown = f"{best:.3f}" if math.isfinite(best) else "-"
        return f"generation {generation + 1}/{self.config.search.generations} {step}  best {shown}"

    # ---------------------------------------------------------------- drafting
    def _drafts(self, generation: int, slots: list[int], failures: list[CandidateRecord],
                done: int, total: int) -> list[CandidateRecord]:
        """The LLM's answer for every slot in `slots`, parsed, in slot order."""
        drafts = []
        with StepBar(total, self._label(generation, "asking"), completed=done) as bar:
            for slot in slots:
                drafts.append(self._draft(generation, slot, failures))
                bar.advance()
        return drafts

    def _choose(self, generation: int, slot: int,
                failures: list[CandidateRecord]) -> tuple[Strategy, list[CandidateRecord]]:
        """The strategy and parents of one slot, from its own seeded generator."""
        search = self.config.search
        rng = np.random.default_rng([search.seed, generation, slot])
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
                not self.population or rng.random() < search.repair_rate):
            return strategy, [failures[rng.integers(len(failures))]]
        count = 1 if strategy.operator == "mutate" else 2
        members = select_parents(self.population, count, rng)
        return strategy, [self.store.candidate(m.id) for m in members]

    def _draft(self, generation: int, slot: int,
               failures: list[CandidateRecord]) -> CandidateRecord:
        """Slot `slot`'s candidate as the LLM answered, not yet evaluated."""
        strategy, parents = self._choose(generation, slot, failures)
        messages = self.prompter.messages(strategy, parents, generation)
        llm = self.config.llm
        request_seed = self.config.search.seed * 1_000_003 + generation * 1_000 + slot
        answer = self.llm.complete(messages, llm.temperature, llm.max_tokens,
                                   seed=request_seed, stop=STOP)
        parsed = parse_answer(answer.text)
        return CandidateRecord(
            generation=generation, slot=slot, operator=strategy.operator, hint=strategy.hint,
            parents=[p.id for p in parents], prompt=messages, response=answer.text,
            thought=parsed.thought, code=parsed.code,
            code_hash=code_hash(parsed.code) if parsed.code is not None else None,
            status=Status.NO_CODE, error=parsed.error, prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens, llm_seconds=answer.seconds,
            cached=answer.cached)

    # -------------------------------------------------------------- evaluation
    def _evaluated(self, drafts: list[CandidateRecord], generation: int, done: int,
                   total: int) -> Iterator[CandidateRecord]:
        """Group `drafts` by normalised code, evaluate each program not seen before once (on
        the executor, in parallel where it has workers), and store every record in slot
        order as soon as it and every slot before it is complete; yields what is stored."""
        groups: dict[str, list[CandidateRecord]] = {}
        for draft in drafts:
            if draft.code_hash is not None:
                groups.setdefault(draft.code_hash, []).append(draft)
        earlier = {h: self.store.first_with_hash(h) for h in groups}
        new = [h for h in groups if earlier[h] is None]
        evaluated: dict[str, CandidateRecord] = {}  # code hash -> its first draft, scored
        waiting = list(drafts)

        def complete(record: CandidateRecord) -> bool:
            return record.code_hash is None or record.code_hash in evaluated \
                or earlier.get(record.code_hash) is not None

        def commit() -> Iterator[CandidateRecord]:
            while waiting and complete(waiting[0]):
                yield self._store(self._outcome(waiting.pop(0), earlier, evaluated))

        with StepBar(total, self._label(generation, "evaluating"), completed=done) as bar:
            try:
                yield from self._advancing(commit(), bar)
                results = self.executor.map_unordered(
                    self.task.job, [groups[h][0].code for h in new], chunk=1)
                for index, result in results:
                    original = groups[new[index]][0]
                    fill(original, result, self.task)
                    evaluated[new[index]] = original
                    yield from self._advancing(commit(), bar)
            except BaseException:
                # Interrupted: keep every complete record for --resume (slots after a gap
                # too; ties are broken by slot, never by id, so the order does not matter).
                for record in [r for r in waiting if complete(r)]:
                    self._store(self._outcome(record, earlier, evaluated))
                raise

    @staticmethod
    def _advancing(records: Iterator[CandidateRecord], bar: StepBar
                   ) -> Iterator[CandidateRecord]:
        for record in records:
            bar.advance()
            yield record

    @staticmethod
    def _outcome(record: CandidateRecord, earlier: dict[str, CandidateRecord | None],
                 evaluated: dict[str, CandidateRecord]) -> CandidateRecord:
        """`record` with its outcome: its own evaluation, or a copy of the program it
        repeats (an earlier generation's, or an earlier slot's of this one)."""
        if record.code_hash is None:
            return record
        original = earlier.get(record.code_hash) or evaluated[record.code_hash]
        if original is not record:
            record.take_outcome(original)
            # a verbatim seed is a copy of it; else the original's verdict (given when
            # it was stored) holds for its repeat
            record.copy_of = (original.id if original.is_seed and original.copy_of is None
                              else original.copy_of)
        return record

    def _store(self, record: CandidateRecord) -> CandidateRecord:
        """Judge `record`'s novelty (in slot order, so every run judges alike) and store it."""
        if record.duplicate_of is None:
            self.novelty.judge(record)
        self.store.add_candidate(record)
        self.novelty.learn(record)
        copy = f" (copy of #{record.copy_of})" if record.copy_of is not None else ""
        log.info("g%d s%d %s: %s %s%s", record.generation, record.slot, record.strategy,
                 record.status, f"{record.fitness:.4f}" if record.valid else record.error, copy)
        return record
