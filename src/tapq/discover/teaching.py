"""The messages of one slot: the strategy's prompt, with what teaching prompts add.

`Prompter` renders a slot's prompt in the run's style. For ``teach`` it gathers, from the
run's store, the standing -- the best `k` distinct programs of *earlier* generations (seeds
included), sorted by search score -- the score to beat (the best human baseline), the
score an init's hint body already has, and each valid parent's diagnosis against the
costs implied by the benchmark's search split. Only earlier generations are read, so a
resumed run renders exactly the prompts an uninterrupted one did (and the LLM cache
answers them).
"""
from __future__ import annotations

import math

import numpy as np

from tapq.discover.diagnosis import diagnose, implied_costs, render
from tapq.discover.prompting import Lesson, Parent, build_messages
from tapq.discover.seeds import BASELINE_PREFIX, seed_name
from tapq.discover.store import CandidateRecord, RunStore
from tapq.discover.strategies import Strategy
from tapq.discover.task import SearchTask, search_rows

__all__ = ["STANDING", "Prompter", "standing_text"]

STANDING = 5  # programs shown in the standing (FunSearch shows a few, best last)
THOUGHT_CHARS = 120


def _label(record: CandidateRecord) -> str:
    if record.is_seed:
        return seed_name(record)
    thought = " ".join(record.thought.split())[:THOUGHT_CHARS] or "no thought given"
    return f"candidate {record.id} of generation {record.generation}: {thought}"


def standing_text(records: list[CandidateRecord], ceiling: float, target: str) -> str:
    """The standing block of a teaching prompt: the programs with their scores, best first."""
    lines = [("Standing so far (rank correlation with measured accuracy among configurations "
              f"of equal size, on the search split; higher is better, about {ceiling:.2f} is "
              "the most the measurements allow):")]
    lines += [f"{i}. {r.fitness:.3f}  {_label(r)}" for i, r in enumerate(records, 1)]
    if not records:
        lines.append("(nothing scored yet)")
    lines.append(f"Score to beat: {target}.")
    return "\n".join(lines)


class Prompter:
    """Renders every slot's messages in one prompt style (``plain`` or ``teach``)."""

    def __init__(self, style: str, store: RunStore, task: SearchTask, k: int = STANDING):
        self.style, self.store, self.task, self.k = style, store, task, k
        self._costs = None
        if style == "teach":
            self._costs = implied_costs(task.data, search_rows(task.data))

    def messages(self, strategy: Strategy, parents: list[CandidateRecord],
                 generation: int) -> list[dict]:
        """The chat messages of one slot of `generation`."""
        shown = [Parent(p.thought, p.code or "", p.fitness, p.error,
                        self._diagnosis(p) if strategy.operator == "mutate" else "")
                 for p in parents]
        lesson = self._lesson(strategy, generation) if self.style == "teach" else None
        return build_messages(strategy, shown, self.task.context, self.style, lesson)

    def _diagnosis(self, record: CandidateRecord) -> str:
        if self._costs is None or not record.valid or record.table is None:
            return ""
        return render(diagnose(np.array(record.table), self.task.data,
                               search_rows(self.task.data), self._costs))

    def _lesson(self, strategy: Strategy, generation: int) -> Lesson:
        earlier = [r for r in self.store.distinct_tables() if r.generation < generation]
        earlier.sort(key=lambda r: (r.fitness, r.generation, r.slot), reverse=True)
        humans = [r for r in earlier if r.hint.startswith(BASELINE_PREFIX)]
        target = (f"{humans[0].fitness:.3f} ({humans[0].hint[len(BASELINE_PREFIX):]}, the "
                  "best human proxy)" if humans else "the best score above")
        seed = next((r for r in self.store.seeds()
                     if r.hint == strategy.hint and math.isfinite(r.fitness)), None)
        seed_score = "not scored"
        if seed is not None:
            seed_score = f"it scores {seed.fitness:.3f}"
            if seed.copy_of is not None:
                seed_score += (", and ranks exactly like "
                               f"{seed_name(self.store.candidate(seed.copy_of))}")
        ceiling = self.task.context.ceiling
        return Lesson(standing_text(earlier[:self.k], ceiling, target), target, seed_score)
