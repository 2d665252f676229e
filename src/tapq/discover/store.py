"""The discovery run's database: one SQLite file per run, written as things happen.

Tables:
- ``meta``: key -> JSON (the run's configuration, benchmark, LLM, versions, start time).
- ``candidates``: one row per generation slot, inserted once its candidate is scored:
  strategy, parents, the prompt and the raw answer, thought, code, status, error,
  fitness and every metric, the sensitivity table, tokens and timings. ``duplicate_of``
  points at the first candidate with the same normalised code (evaluated once);
  ``copy_of`` at the seed or earlier candidate whose table ranks like this one's (a
  different program, the same proxy). ``bench_scores``: per benchmark searched (by its
  label in meta ``benches``), that benchmark's fitness, every figure and the table (the
  row's ``fitness`` and ``metrics`` combine them by the run's rule; runs stored before
  several benchmarks could be searched have none). *Seeds* -- every human baseline and every hint's
  starting body, scored before the first LLM call -- are rows of operator ``seed`` and
  generation -1 (shown as "seed"); runs stored before seeds existed have none.
- ``generations``: one row per finished generation: the population after it and the
  controller's state and probabilities (the strategy trajectory).
- ``transfer``: the transfer check of the finished run (transfer.py): one row per proxy
  judged on a shipped benchmark the run did not search (test split, intervals), rewritten
  each time the run finishes; meta ``transfer_notes`` says what was not checked and why.
- ``llm_cache``: every LLM request and answer by hash (see llm_cache.py), so a run
  can be replayed without the LLM.
A run killed at any point loses only the candidates in flight; resuming re-asks nothing
that is stored. Callers ask the store named questions; no SQL leaves this module.
"""
from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from tapq.discover.llm_cache import ResponseCache
from tapq.discover.strategies import strategy_key
from tapq.errors import TapqError

__all__ = ["SEED", "SEED_GENERATION", "CandidateRecord", "GenerationRecord", "RunStore",
           "Status"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY, generation INTEGER NOT NULL, slot INTEGER NOT NULL,
    operator TEXT NOT NULL, hint TEXT NOT NULL, parents TEXT NOT NULL,
    prompt TEXT NOT NULL, response TEXT NOT NULL, thought TEXT NOT NULL, code TEXT,
    code_hash TEXT, status TEXT NOT NULL, error TEXT, fitness REAL, metrics TEXT,
    table_json TEXT, duplicate_of INTEGER, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, llm_seconds REAL NOT NULL, eval_seconds REAL NOT NULL,
    cached INTEGER NOT NULL, created REAL NOT NULL, copy_of INTEGER, bench_scores TEXT,
    UNIQUE (generation, slot));
CREATE TABLE IF NOT EXISTS transfer (
    bench TEXT NOT NULL, role TEXT NOT NULL, proxy TEXT NOT NULL, figures TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
    generation INTEGER PRIMARY KEY, population TEXT NOT NULL, theta TEXT NOT NULL,
    probabilities TEXT NOT NULL, loss REAL, best_fitness REAL, finished REAL NOT NULL);
"""
_COLUMNS = ("id, generation, slot, operator, hint, parents, prompt, response, thought, code, "
            "code_hash, status, error, fitness, metrics, table_json, duplicate_of, "
            "prompt_tokens, completion_tokens, llm_seconds, eval_seconds, cached, copy_of, "
            "bench_scores")
SEED_GENERATION = -1  # the generation number of seeds (scored before generation 0)
SEED = "seed"         # their operator


class Status(str, Enum):
    """What became of a candidate: the sandbox's outcomes, or no code in the answer."""

    OK = "ok"
    REJECTED = "rejected"  # the static screen refused the code
    ERROR = "error"        # raised, returned a bad value, or its fitness is undefined
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"
    NO_CODE = "no-code"    # the answer held no program defining sensitivity

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass(kw_only=True)
class CandidateRecord:
    """A candidate as stored (fitness -inf when it failed; `error` says why)."""

    generation: int
    slot: int
    operator: str
    hint: str
    parents: list[int]
    prompt: list[dict]
    response: str
    thought: str
    code: str | None
    code_hash: str | None
    status: Status
    error: str | None = None
    fitness: float = float("-inf")
    metrics: dict = field(default_factory=dict)
    table: list[list[float]] | None = None
    duplicate_of: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    eval_seconds: float = 0.0
    cached: bool = False
    copy_of: int | None = None
    bench_scores: dict[str, dict] = field(default_factory=dict)
    id: int | None = None

    @property
    def strategy(self) -> str:
        return strategy_key(self.operator, self.hint)

    @property
    def valid(self) -> bool:
        """Whether it produced a finite fitness."""
        return math.isfinite(self.fitness)

    @property
    def is_seed(self) -> bool:
        """A human baseline or a hint's starting body, scored before the LLM was asked."""
        return self.operator == SEED

    @property
    def novel(self) -> bool:
        """Valid, written by the LLM, not a verbatim repeat, and ranking unlike every seed
        and earlier candidate."""
        return (self.valid and not self.is_seed and self.copy_of is None
                and self.duplicate_of is None)

    @property
    def generation_label(self) -> str:
        return SEED if self.is_seed else str(self.generation)

    def bench_tables(self) -> dict[str, list[list[float]]]:
        """The table on each benchmark searched, by label (the one table a run stored
        before several benchmarks could be searched, under the label "")."""
        tables = {k: v["table"] for k, v in self.bench_scores.items() if v.get("table")}
        if not tables and self.table is not None:
            tables[""] = self.table
        return tables

    def take_outcome(self, original: CandidateRecord) -> None:
        """The outcome of `original`, which this record repeats verbatim."""
        self.duplicate_of = original.id
        self.status, self.error, self.fitness = original.status, original.error, original.fitness
        self.metrics, self.table = original.metrics, original.table
        self.bench_scores = original.bench_scores


@dataclass(frozen=True)
class GenerationRecord:
    """The state after a finished generation."""

    generation: int
    population: list[int]
    theta: list[float]
    probabilities: dict[str, float]
    loss: float
    best_fitness: float


def _json(value) -> str:
    return json.dumps(value, allow_nan=True)


class RunStore:
    """Reads and writes one run database; every write is committed at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(self.path)
            tables = {name for (name,) in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "candidates" not in tables:  # never write into someone else's file
                self._conn.close()
                raise TapqError(f"{self.path} is an SQLite file but not a tapq run database")
            self._conn.executescript(SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(candidates)")}
            for column, kind in (("copy_of", "INTEGER"), ("bench_scores", "TEXT")):
                if column not in columns:  # a run stored before it was recorded
                    self._conn.execute(f"ALTER TABLE candidates ADD COLUMN {column} {kind}")
                    self._conn.commit()
        except sqlite3.DatabaseError as error:
            raise TapqError(f"{self.path} is not a tapq run database ({error})") from None

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ metadata
    def set_meta(self, **values) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [(k, _json(v)) for k, v in values.items()])
        self._conn.commit()

    def meta(self) -> dict:
        return {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}

    # ---------------------------------------------------------------- LLM answers
    def response_cache(self) -> ResponseCache:
        """The run's LLM cache (table ``llm_cache`` of this database)."""
        return ResponseCache(self._conn)

    def import_llm_cache(self, source: str | Path) -> None:
        """Copy every cached LLM answer of the run database `source` into this one."""
        self.response_cache()  # the table exists before rows are copied into it
        self._conn.execute("ATTACH DATABASE ? AS source", (str(source),))
        try:
            self._conn.execute("INSERT OR IGNORE INTO llm_cache SELECT * FROM source.llm_cache")
            self._conn.commit()
        finally:
            self._conn.execute("DETACH DATABASE source")

    # ---------------------------------------------------------------- candidates
    def add_candidate(self, record: CandidateRecord) -> int:
        """Store a scored candidate; returns its id (also set on `record`)."""
        row = asdict(record)
        row.pop("id")
        for key in ("parents", "prompt", "metrics", "table", "bench_scores"):
            row[key] = None if row[key] is None else _json(row[key])
        row["table_json"] = row.pop("table")
        row["status"] = Status(record.status).value
        row["fitness"] = None if not math.isfinite(record.fitness) else record.fitness
        row["cached"] = int(record.cached)
        row["created"] = time.time()
        columns = ", ".join(row)
        cursor = self._conn.execute(
            f"INSERT INTO candidates ({columns}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()))
        self._conn.commit()
        record.id = cursor.lastrowid
        return record.id  # type: ignore[return-value]

    def count(self) -> int:
        """How many candidates are stored (seeds included)."""
        return self._conn.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]

    def seeds(self) -> list[CandidateRecord]:
        """The run's seeds, in the order they were scored (none in a run stored before
        seeds existed)."""
        return self._select("operator = ?", (SEED,))

    def candidates(self) -> list[CandidateRecord]:
        """Every stored candidate, in id order."""
        return self._select("1")

    def candidate(self, id_: int) -> CandidateRecord:
        (record,) = self._select("id = ?", (id_,))
        return record

    def of_generation(self, generation: int) -> dict[int, CandidateRecord]:
        """The stored candidates of `generation`, by slot."""
        return {r.slot: r for r in self._select("generation = ?", (generation,))}

    def failed_in(self, generation: int) -> list[CandidateRecord]:
        """Candidates of `generation` that had code but no fitness (repair material)."""
        return self._select("generation = ? AND fitness IS NULL AND code IS NOT NULL "
                            "AND operator != ?", (generation, SEED))

    def first_with_hash(self, code_hash: str) -> CandidateRecord | None:
        """The first evaluated candidate with this normalised code, if any."""
        found = self._select("code_hash = ? AND duplicate_of IS NULL", (code_hash,), limit=1)
        return found[0] if found else None

    def distinct_valid(self) -> list[CandidateRecord]:
        """Valid candidates, seeds included, each program once (the first of identical
        ones), in id order."""
        return self._select("fitness IS NOT NULL AND duplicate_of IS NULL")

    def distinct_tables(self) -> list[CandidateRecord]:
        """Valid candidates (seeds included) that are no copy of anything earlier: the
        tables a new candidate must differ from, in id order."""
        return self._select("fitness IS NOT NULL AND duplicate_of IS NULL AND copy_of IS NULL")

    def _select(self, where: str, args: tuple = (), limit: int | None = None
                ) -> list[CandidateRecord]:
        cursor = self._conn.execute(
            f"SELECT {_COLUMNS} FROM candidates WHERE {where} ORDER BY id"
            + (f" LIMIT {int(limit)}" if limit is not None else ""), args)
        records = []
        for row in cursor:
            (id_, gen, slot, op, hint, parents, prompt, response, thought, code, code_hash,
             status, error, fit, metrics, table, dup, pt, ct, ls, es, cached, copy_of,
             scores) = row
            records.append(CandidateRecord(
                generation=gen, slot=slot, operator=op, hint=hint, parents=json.loads(parents),
                prompt=json.loads(prompt), response=response, thought=thought, code=code,
                code_hash=code_hash, status=Status(status), error=error,
                fitness=float("-inf") if fit is None else fit,
                metrics=json.loads(metrics or "{}"),
                table=json.loads(table) if table else None, duplicate_of=dup,
                prompt_tokens=pt, completion_tokens=ct, llm_seconds=ls, eval_seconds=es,
                cached=bool(cached), copy_of=copy_of,
                bench_scores=json.loads(scores) if scores else {}, id=id_))
        return records

    # ---------------------------------------------------------------- transfer check
    def set_transfer(self, rows: list[dict], notes: list[str]) -> None:
        """Replace the stored transfer check: `rows` (each with ``bench``, ``role``,
        ``proxy`` and its figures) and the one-line `notes`."""
        self._conn.execute("DELETE FROM transfer")
        self._conn.executemany("INSERT INTO transfer VALUES (?, ?, ?, ?)",
                               [(r["bench"], r["role"], r["proxy"], _json(r)) for r in rows])
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           ("transfer_notes", _json(notes)))
        self._conn.commit()

    def transfer(self) -> tuple[list[dict], list[str]] | None:
        """The stored transfer check (rows, notes), or None when the run has none (not
        finished, or finished before transfer checks existed)."""
        notes = self.meta().get("transfer_notes")
        if notes is None:
            return None
        rows = [json.loads(f) for (f,) in self._conn.execute(
            "SELECT figures FROM transfer ORDER BY rowid")]
        return rows, notes

    # ---------------------------------------------------------------- generations
    def add_generation(self, record: GenerationRecord) -> None:
        self._conn.execute(
            "INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.generation, _json(record.population), _json(record.theta),
             _json(record.probabilities),
             None if not math.isfinite(record.loss) else record.loss,
             None if not math.isfinite(record.best_fitness) else record.best_fitness,
             time.time()))
        self._conn.commit()

    def generations(self) -> list[GenerationRecord]:
        rows = self._conn.execute("SELECT generation, population, theta, probabilities, loss, "
                                  "best_fitness FROM generations ORDER BY generation")
        return [GenerationRecord(g, json.loads(p), json.loads(t), json.loads(pr),
                                 float("nan") if loss is None else loss,
                                 float("-inf") if best is None else best)
                for g, p, t, pr, loss, best in rows]
