"""The benchmark file: one SQLite database per ground truth.

Tables:
- ``meta``: key -> JSON value (model spec and hash, data, PTQ settings, seeds, bit set,
  full-precision accuracy, split sizes).
- ``configs``: every configuration to measure, written before any measurement so a
  resumed build measures exactly the same ones. ``kind`` is ``sample`` (the benchmark
  proper, with ``split`` search, select or test -- ``val`` in benchmarks built before
  the three splits, see analysis.py) or ``layer`` (one layer at ``layer_bits``, all
  others at full precision: per-layer sensitivity).
- ``results``: one row per (config, calibration seed), committed as it is measured:
  accuracy, loss, KL divergence to the full-precision outputs, top-1 agreement with the
  full-precision model (files from before agreement lack the column: None), and accuracy
  on the two halves of the evaluation split (even / odd examples).
- ``halves``: the other targets (``HALF_TARGETS``: loss, KL, agreement with the
  full-precision top-1) on the even and odd halves, one row per (config, seed, target).
  A build writes them with each result (one PTQ, one evaluation, split afterwards);
  ``tapq bench remeasure`` adds them to benchmarks built before they existed.
A build killed at any point loses at most the rows in flight; rerunning skips every
(config, seed) already in ``results``.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tapq.errors import TapqError

# Benchmarks shipped with the package, one per built-in model, named after it
# (mnist-cnn -> mnist_cnn.db); each file's metadata holds the settings it was built with
# (`spec`), and BENCHMARKS.md the command that rebuilds it.
SHIPPED_BENCH_DIR = Path(__file__).parent / "data"
# The default benchmark: the embedded model's. Rebuild with:
# tapq bench build --model mnist-cnn --out src/tapq/bench/data/mnist_cnn.db --workers 2
DEFAULT_BENCH = SHIPPED_BENCH_DIR / "mnist_cnn.db"


def shipped_benches() -> dict[str, Path]:
    """Every benchmark shipped with the package, by the name of its built-in model."""
    return {path.stem.replace("_", "-"): path
            for path in sorted(SHIPPED_BENCH_DIR.glob("*.db"))}


def default_bench_for(model: str, weights: str | None = None) -> Path | None:
    """The shipped benchmark of built-in model `model` with its own weights, if any: the
    ground truth a comparison's oracle row and a proxy evaluation default to."""
    return None if weights else shipped_benches().get(model)


def resolve_bench(path: str | Path) -> Path:
    """`path` as given, or the shipped benchmark it names (``efficientnet-lite1``) when no
    such file exists: ``--bench NAME`` works wherever a benchmark file does."""
    given = Path(path)
    if given.exists():
        return given
    return shipped_benches().get(str(path), given)


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, split TEXT, w_bits TEXT NOT NULL,
    a_bits TEXT NOT NULL, avg_bits REAL NOT NULL, size_mb REAL NOT NULL, bitops INTEGER NOT NULL,
    layer TEXT, layer_bits INTEGER);
CREATE TABLE IF NOT EXISTS results (
    config_id INTEGER NOT NULL REFERENCES configs(id), calib_seed INTEGER NOT NULL,
    accuracy REAL, loss REAL, kl REAL, accuracy_even REAL, accuracy_odd REAL,
    seconds REAL NOT NULL,
    agreement REAL,
    PRIMARY KEY (config_id, calib_seed));
CREATE TABLE IF NOT EXISTS halves (
    config_id INTEGER NOT NULL REFERENCES configs(id), calib_seed INTEGER NOT NULL,
    target TEXT NOT NULL, even REAL NOT NULL, odd REAL NOT NULL,
    PRIMARY KEY (config_id, calib_seed, target));
CREATE VIEW IF NOT EXISTS layer_sensitivity AS
    SELECT c.layer, c.layer_bits AS bits, r.calib_seed, r.accuracy, r.kl,
           (SELECT CAST(value AS REAL) FROM meta WHERE key = 'fp_accuracy') - r.accuracy
               AS accuracy_drop
    FROM configs c JOIN results r ON r.config_id = c.id WHERE c.kind = 'layer';
"""

# Result columns added after the first benchmarks shipped (nullable; added to an old file
# only when a build resumes it, never when it is read).
LATER_COLUMNS = ("agreement",)
RESULT_COLUMNS = ("config_id", "calib_seed", "accuracy", "loss", "kl", "accuracy_even",
                  "accuracy_odd", "seconds", *LATER_COLUMNS)
# Targets whose even / odd halves live in the ``halves`` table; accuracy's halves are the
# ``accuracy_even`` / ``accuracy_odd`` columns of ``results``.
HALF_TARGETS = ("loss", "kl", "agreement")

# What a reader needs in ``meta``; a build writes all of it before the first measurement.
REQUIRED_META = ("spec", "data", "layers", "calib_seeds", "fp_accuracy", "sampled")


@dataclass(frozen=True)
class ConfigRow:
    """A configuration to measure, as stored."""

    id: int
    kind: str
    split: str | None
    w_bits: dict[str, int]
    a_bits: dict[str, int]
    avg_bits: float
    size_mb: float
    bitops: int
    layer: str | None = None
    layer_bits: int | None = None


@dataclass(frozen=True)
class ResultRow:
    """One measurement of one configuration under one calibration seed.

    ``halves`` maps a target of ``HALF_TARGETS`` to its (even, odd) half values; it is
    written with the row and not read back here (see ``BenchStore.halves``).
    """

    config_id: int
    calib_seed: int
    accuracy: float | None  # None: not measured (an imported ground truth without it)
    loss: float | None
    kl: float | None
    accuracy_even: float | None
    accuracy_odd: float | None
    seconds: float
    agreement: float | None = None
    halves: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False)


class BenchStore:
    """Reads and writes one benchmark file; every write is committed at once."""

    def __init__(self, path: str | Path, create: bool = False) -> None:
        """Open benchmark `path` for reading; with `create`, for building (a new file, or
        one a build started). Raises TapqError if it is missing, damaged or not a
        benchmark -- and then leaves the file as it was."""
        self.path = Path(path) if create else resolve_bench(path)
        if self.path.is_dir():
            raise TapqError(f"{self.path} is a folder, not a benchmark database file")
        if not create and not self.path.is_file():
            raise TapqError(f"benchmark file not found: {self.path}")
        try:
            self.db = sqlite3.connect(self.path)
        except sqlite3.DatabaseError as error:
            raise TapqError(f"cannot open benchmark {self.path}: {error}") from None
        try:
            self._check(create)
            if create:
                self.db.executescript(SCHEMA)
                self._add_later_columns()
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise TapqError(f"{self.path} is not a tapq benchmark database: {error}") from None
        except TapqError:
            self.db.close()
            raise

    @classmethod
    def existing_meta(cls, path: str | Path) -> dict:
        """The metadata a build of `path` would resume from ({} for a file a build had not
        yet described), read without writing: a build refused for other settings leaves
        the file byte-identical. Raises TapqError as opening would."""
        store = cls.__new__(cls)
        store.path = Path(path)
        try:
            store.db = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.DatabaseError as error:
            raise TapqError(f"cannot open benchmark {store.path}: {error}") from None
        try:
            store._check(create=True)
            tables = {row[0] for row in store.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            return store.meta() if "meta" in tables else {}
        except (sqlite3.DatabaseError, ValueError) as error:
            raise TapqError(f"{store.path} is not a tapq benchmark database: {error}") from None
        finally:
            store.db.close()

    def _check(self, create: bool) -> None:
        """Refuse a damaged file, another program's database, or (when reading) a file
        without a benchmark's metadata; reads only, so a refused file is not modified."""
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(f"it is damaged ({problems[0]})")
        tables = {row[0] for row in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if (tables or not create) and not {"meta", "configs", "results"} <= tables:
            raise sqlite3.DatabaseError("it has no meta, configs and results tables")
        if not create:
            try:
                missing = [k for k in REQUIRED_META if k not in self.meta()]
            except ValueError as error:  # metadata that is not JSON
                raise sqlite3.DatabaseError(f"its metadata is not JSON ({error})") from None
            if missing:
                raise sqlite3.DatabaseError(f"its metadata lacks {', '.join(missing)}; "
                                            "was its build stopped before it began?")

    def _columns(self) -> set[str]:
        return {row[1] for row in self.db.execute("PRAGMA table_info(results)")}

    def _add_later_columns(self) -> None:
        """A build resuming a file from before agreement was stored gets its columns."""
        missing = [c for c in LATER_COLUMNS if c not in self._columns()]
        with self.db:
            for column in missing:
                self.db.execute(f"ALTER TABLE results ADD COLUMN {column} REAL")

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> "BenchStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def meta(self) -> dict:
        """All metadata, JSON-decoded."""
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def set_meta(self, values: dict) -> None:
        """Write metadata entries (JSON-encoded)."""
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                [(k, json.dumps(v)) for k, v in values.items()])

    def add_configs(self, rows: Iterable[ConfigRow]) -> None:
        """Insert configurations (ids are fixed by the caller, so inserting twice is a no-op)."""
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.id, r.kind, r.split, json.dumps(r.w_bits), json.dumps(r.a_bits), r.avg_bits,
                  r.size_mb, r.bitops, r.layer, r.layer_bits) for r in rows])

    def set_splits(self, splits: dict[int, str]) -> None:
        """Re-assign the split of the configurations in `splits` (config id -> split)."""
        with self.db:
            self.db.executemany("UPDATE configs SET split = ? WHERE id = ?",
                                [(s, i) for i, s in splits.items()])

    def configs(self, kind: str | None = None) -> list[ConfigRow]:
        """Stored configurations, by id, optionally of one kind."""
        query = "SELECT * FROM configs" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
        return [ConfigRow(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), *r[5:])
                for r in self.db.execute(query, (kind,) if kind else ())]

    def add_result(self, row: ResultRow) -> None:
        """Record one measurement and commit it."""
        values = [getattr(row, c) for c in RESULT_COLUMNS]
        with self.db:
            self.db.execute(f"INSERT OR REPLACE INTO results ({', '.join(RESULT_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(RESULT_COLUMNS))})", values)
            self._insert_halves(row)

    def add_halves(self, rows: Iterable[ResultRow]) -> None:
        """Record the half values of measurements whose results are already stored, and
        their agreement where the file predates it (``tapq bench remeasure``; open the
        store with ``create`` so that table and column exist)."""
        with self.db:
            for row in rows:
                self._insert_halves(row)
                self.db.execute("UPDATE results SET agreement = ? WHERE config_id = ? AND "
                                "calib_seed = ? AND agreement IS NULL",
                                (row.agreement, row.config_id, row.calib_seed))

    def _insert_halves(self, row: ResultRow) -> None:
        self.db.executemany("INSERT OR REPLACE INTO halves VALUES (?, ?, ?, ?, ?)",
                            [(row.config_id, row.calib_seed, target, even, odd)
                             for target, (even, odd) in row.halves.items()])

    def halves(self, target: str, calib_seed: int) -> dict[int, tuple[float, float]]:
        """Config id -> (even, odd) half values of `target` under `calib_seed`, for every
        configuration whose halves were measured."""
        if target == "accuracy":
            query = ("SELECT config_id, accuracy_even, accuracy_odd FROM results "
                     "WHERE calib_seed = ? AND accuracy_even IS NOT NULL")
            args: tuple = (calib_seed,)
        elif target in HALF_TARGETS:
            if not self._has_table("halves"):  # a benchmark opened read-only, built before
                return {}
            query = ("SELECT config_id, even, odd FROM halves "
                     "WHERE calib_seed = ? AND target = ?")
            args = (calib_seed, target)
        else:
            raise TapqError(f"no half measurements of target {target!r} (known: accuracy, "
                            f"{', '.join(HALF_TARGETS)})")
        return {r[0]: (r[1], r[2]) for r in self.db.execute(query, args)}

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                               "name = ?", (name,)).fetchone() is not None

    def results(self, calib_seed: int | None = None) -> list[ResultRow]:
        """Stored measurements, optionally for one calibration seed."""
        present = [c for c in RESULT_COLUMNS if c in self._columns()]
        query = (f"SELECT {', '.join(present)} FROM results"
                 + (" WHERE calib_seed = ?" if calib_seed is not None else "")
                 + " ORDER BY config_id, calib_seed")
        args = (calib_seed,) if calib_seed is not None else ()
        return [ResultRow(**dict(zip(present, r))) for r in self.db.execute(query, args)]

    def done(self) -> set[tuple[int, int]]:
        """(config id, calibration seed) pairs already measured."""
        return set(self.db.execute("SELECT config_id, calib_seed FROM results"))
