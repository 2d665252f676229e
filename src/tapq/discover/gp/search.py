"""The symbolic baseline's loop: genetic programming over the LLM's own statistics.

It is the LLM loop (evolution.py) with the LLM replaced by tree variation, so that what
the LLM adds is measured rather than assumed: generation 0 draws `population` random
expressions (ramped half-and-half), every later generation makes `children` offspring by
subtree crossover or mutation of parents chosen by tournament, each rendered to a proxy
program (render.py) and scored exactly as an LLM answer is -- screened, run in the
sandbox on the executor, fitness on the search split -- and stored in the same run
database (operator, ``gp`` hint, the expression as the answer). The seeds (human
baselines, hint bodies) are scored first as in an LLM run, so a GP table that ranks like
one is a copy, not a discovery (scoring.py); they are programs, not trees, so they are no
parents here. Survival is the LLM loop's: the best N distinct valid proxies.

Every draw of slot s in generation g comes from ``default_rng([seed, g, s])`` and the
population changes only between generations, so a resumed run draws what the
uninterrupted one did. Offspring that repeat an earlier program are drawn again (a
repeat costs an evaluation slot and teaches nothing); ``max_seconds`` stops the search
at a wall-time budget, for comparisons at equal time.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from tapq.discover.assembly import RUN_DB, check_resumable, search_task
from tapq.discover.candidate import code_hash
from tapq.discover.config import DiscoverConfig
from tapq.discover.evolution import member_of
from tapq.discover.gp.render import program
from tapq.discover.gp.trees import (
    Node,
    crossover,
    depth,
    initial_tree,
    parse,
    point_mutation,
    size,
    subtree_mutation,
    usable,
)
from tapq.discover.population import Member, survivors
from tapq.discover.scoring import NoveltyJudge, fill
from tapq.discover.seeds import score_seeds
from tapq.discover.store import CandidateRecord, GenerationRecord, RunStore, Status
from tapq.discover.task import SearchTask
from tapq.errors import TapqError
from tapq.executors import Executor, make_executor
from tapq.progress import StepBar
from tapq.sandbox import require_isolation

__all__ = ["GP_LLM_NAME", "GPSearch", "open_gp_search", "tournament"]
log = logging.getLogger("tapq.discover")

GP_LLM_NAME = "none (genetic programming)"
_TRIES = 100


def tournament(population: list[Member], size_: int, rng: np.random.Generator,
               exclude: Member | None = None) -> Member:
    """The fittest of `size_` members drawn without replacement (ties to the younger)."""
    pool = [m for m in population if m is not exclude] or population
    picks = rng.choice(len(pool), size=min(size_, len(pool)), replace=False)
    return max((pool[i] for i in picks), key=Member.rank_key)


class GPSearch:
    """One GP run over generations; its collaborators are given, not built here."""

    def __init__(self, config: DiscoverConfig, store: RunStore, executor: Executor,
                 task: SearchTask, population: list[Member], wall_before: float = 0.0):
        self.config, self.store, self.executor, self.task = config, store, executor, task
        self.population = population
        self.novelty = NoveltyJudge(store, task.labels)
        self._trees: dict[int, Node] = {}
        # (generation, code hash) of every stored program, kept here rather than re-read
        # each generation: a long GP run stores thousands of tables.
        self._hashes = [(r.generation, r.code_hash) for r in store.candidates()]
        self._deadline = None
        if config.search.gp.max_seconds is not None:
            self._deadline = time.perf_counter() + config.search.gp.max_seconds - wall_before

    def run(self) -> list[GenerationRecord]:
        """Run (or finish) every generation, or until the wall-time budget is spent."""
        for generation in range(len(self.store.generations()), self.config.search.generations):
            if generation > 0 and self._deadline is not None \
                    and time.perf_counter() >= self._deadline:
                log.info("gp: wall-time budget spent after %d generations", generation)
                break
            self._generation(generation)
        return self.store.generations()

    def close(self) -> None:
        self.executor.close()
        self.store.close()

    # ---------------------------------------------------------------- a generation
    def _generation(self, generation: int) -> None:
        search = self.config.search
        stored = self.store.of_generation(generation)
        slots = search.population if generation == 0 else search.children_per_generation
        seen = {h for g, h in self._hashes if g < generation}
        drafts = []
        for slot in range(slots):
            record = stored.get(slot) or self._draft(generation, slot, seen)
            seen.add(record.code_hash)
            if slot not in stored:
                drafts.append(record)
        for record in self._evaluated(drafts, generation, len(stored), slots):
            stored[record.slot] = record
            self._hashes.append((generation, record.code_hash))
        records = [stored[s] for s in range(slots)]
        self.population = survivors(self.population + [member_of(r) for r in records],
                                    search.population)
        best = self.population[0].fitness if self.population else float("-inf")
        self.store.add_generation(GenerationRecord(
            generation, [m.id for m in self.population], [], self._rates(), float("nan"), best))
        log.info("generation %d: %d/%d valid, best %.4f", generation,
                 sum(r.valid for r in records), len(records), best)

    def _rates(self) -> dict[str, float]:
        """The fixed variation rates, stored where an LLM run keeps its policy."""
        cx = self.config.search.gp.crossover_rate
        return {"crossover/gp": cx, "mutate/subtree": (1 - cx) / 2, "mutate/point": (1 - cx) / 2}

    # ---------------------------------------------------------------- drafting
    def _tree(self, member: Member) -> Node:
        if member.id not in self._trees:
            self._trees[member.id] = parse(self.store.candidate(member.id).response)
        return self._trees[member.id]

    def _draft(self, generation: int, slot: int, seen: set[str | None]) -> CandidateRecord:
        """Slot `slot`'s program: a new expression no earlier slot or generation wrote."""
        gp = self.config.search.gp
        rng = np.random.default_rng([self.config.search.seed, generation, slot])
        fallback = None
        for _ in range(_TRIES):
            operator, hint, parents, tree = self._vary(rng, generation, slot)
            if depth(tree) <= gp.max_depth and size(tree) <= gp.max_nodes and usable(tree):
                if code_hash(program(tree)) not in seen:
                    break
                fallback = fallback or (operator, hint, parents, tree)
        else:  # every draw repeated a program or broke a limit: keep a valid repeat
            operator, hint, parents, tree = fallback or (
                "init", "gp", [], initial_tree(rng, slot, gp.init_depth))
        code = program(tree)
        return CandidateRecord(
            generation=generation, slot=slot, operator=operator, hint=hint,
            parents=[p.id for p in parents], prompt=[], response=str(tree),
            thought=f"GP expression {tree}", code=code, code_hash=code_hash(code),
            status=Status.NO_CODE)

    def _vary(self, rng: np.random.Generator, generation: int, slot: int
              ) -> tuple[str, str, list[Member], Node]:
        """One draw of (operator, hint, parents, child tree) for a slot."""
        gp = self.config.search.gp
        if generation == 0 or not self.population:
            ramp = slot if generation == 0 else int(rng.integers(1 << 16))
            return "init", "gp", [], initial_tree(rng, ramp, gp.init_depth)
        first = tournament(self.population, gp.tournament, rng)
        if len(self.population) >= 2 and rng.random() < gp.crossover_rate:
            second = tournament(self.population, gp.tournament, rng, exclude=first)
            return ("crossover", "gp", [first, second],
                    crossover(rng, self._tree(first), self._tree(second)))
        if rng.random() < 0.5:
            return "mutate", "subtree", [first], subtree_mutation(rng, self._tree(first))
        return "mutate", "point", [first], point_mutation(rng, self._tree(first))

    # -------------------------------------------------------------- evaluation
    def _evaluated(self, drafts: list[CandidateRecord], generation: int, done: int,
                   total: int) -> list[CandidateRecord]:
        """Evaluate each new program once on the executor, then store every draft in slot
        order (a repeat copies its original's outcome); returns what was stored."""
        groups: dict[str, list[CandidateRecord]] = {}
        for draft in drafts:
            groups.setdefault(draft.code_hash, []).append(draft)
        earlier = {h: self.store.first_with_hash(h) for h in groups}
        new = [h for h in groups if earlier[h] is None]
        label = f"generation {generation + 1}/{self.config.search.generations} evaluating (gp)"
        with StepBar(total, label, completed=done) as bar:
            results = self.executor.map_unordered(self.task.job,
                                                  [groups[h][0].code for h in new], chunk=1)
            for index, result in results:
                fill(groups[new[index]][0], result, self.task)
                bar.advance()
        stored = []
        for draft in drafts:
            original = earlier[draft.code_hash] or groups[draft.code_hash][0]
            if original is not draft:
                draft.take_outcome(original)
                draft.copy_of = original.copy_of
            else:
                self.novelty.judge(draft)  # in slot order, as the LLM loop judges
            self.store.add_candidate(draft)
            self.novelty.learn(draft)
            stored.append(draft)
        return stored


def open_gp_search(config: DiscoverConfig, resume: bool = False, backend=None) -> GPSearch:
    """A ready-to-run `GPSearch` for `config` (``config.search.kind == "gp"``): a new run,
    or the stored one when `resume`. A GP run asks no LLM: `backend` and a replay are
    refused rather than ignored."""
    if backend is not None or config.replay is not None:
        raise TapqError("--search gp asks no LLM: it takes neither an LLM backend nor "
                        "--replay")
    isolation = require_isolation()  # refuses before anything is created, as for the LLM
    execution = config.execution
    executor = make_executor(execution.executor, execution.workers, execution.ray_address)
    out = Path(config.out)
    if resume and not (out / RUN_DB).is_file():
        raise TapqError(f"nothing to resume: {out} holds no run ({RUN_DB} is missing)")
    out.mkdir(parents=True, exist_ok=True)
    store = RunStore(out / RUN_DB)
    if not check_resumable(store, config, resume):
        store.set_meta(config=config.resume_key(), started=time.time())
    store.set_meta(isolation=isolation.describe(), isolated=isolation.isolated)
    done = store.generations()
    population = []
    if done:
        by_id = {c.id: c for c in store.candidates()}
        population = [member_of(by_id[i]) for i in done[-1].population]
    task = search_task(config, out, store, GP_LLM_NAME)
    if config.search.seeds:  # the same reference for novelty as an LLM run has
        score_seeds(store, task)
    wall_before = store.meta().get("wall_seconds", 0.0)
    return GPSearch(config, store, executor, task, population, wall_before)
