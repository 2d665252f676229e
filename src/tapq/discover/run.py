"""`discover()`: one call from configuration to outputs, resumable.

Opens the run (assembly.py; gp/search.py for ``--search gp``), runs the evolution
(evolution.py, or the GP's loop), writes best_proxy.py and
the leaderboard (results.py), logs to ``DIR/discover.log``, and ends with the final check
(final_check.py): the best novel proxy (never a copy of a seed) against every human
baseline on the (first) benchmark's test split, which the search never saw, with paired
intervals -- and the transfer check (transfer.py): the same proxy on every shipped
benchmark the run did not search, test splits only.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from tapq.discover.assembly import check_benches, open_discovery
from tapq.discover.benches import bench_labels
from tapq.discover.config import DiscoverConfig
from tapq.discover.final_check import fitness_check
from tapq.discover.gp.search import open_gp_search
from tapq.discover.llm import LLMBackend
from tapq.discover.results import RunSummary, summarize, write_outputs
from tapq.discover.transfer import named_benches, run_transfer_check
from tapq.proxies import Fitness

__all__ = ["DiscoveryResult", "LOG_FILE", "discover"]

LOG_FILE = "discover.log"


@dataclass(frozen=True)
class DiscoveryResult:
    """Where a run's outputs are and what it found."""

    out: Path
    summary: RunSummary
    best_proxy: Path | None
    leaderboard: Path
    final: list[Fitness]  # the best novel proxy first, then every baseline
    wall_seconds: float
    llm: str
    isolation: str = ""  # the sandbox's OS boundary, as run.db records it
    transfer: list[dict] = field(default_factory=list)  # transfer.py's rows
    transfer_notes: list[str] = field(default_factory=list)  # what was not checked, why
    benches: list[str] = field(default_factory=list)  # the benchmarks searched
    fitness_rule: str = "mean"
    finals: dict[str, list[Fitness]] = field(default_factory=dict)  # final check per bench

    def to_json(self) -> dict:
        return {"out": str(self.out), "llm": self.llm, "wall_seconds": self.wall_seconds,
                "isolation": self.isolation, "benches": self.benches,
                "fitness_rule": self.fitness_rule,
                "transfer": {"rows": self.transfer, "notes": self.transfer_notes},
                "final_by_bench": {k: [f.to_json() for f in v] for k, v in self.finals.items()},
                "best_proxy": None if self.best_proxy is None else str(self.best_proxy),
                "leaderboard": str(self.leaderboard), **self.summary.to_json(),
                "final": [f.to_json() for f in self.final]}


def _log_to(out: Path) -> logging.Handler:
    handler = logging.FileHandler(out / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("tapq")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def discover(config: DiscoverConfig, resume: bool = False,
             backend: LLMBackend | None = None, final_check: bool = True) -> DiscoveryResult:
    """Run (or resume) proxy discovery; see DiscoverConfig for every setting.

    `backend` replaces the LLM named in the configuration (tests, custom clients).
    `final_check` False skips the final and transfer checks (tests, quick runs).
    """
    check_benches(config.benches)  # before the run folder exists: a refused run leaves nothing
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    handler = _log_to(out)
    start = time.perf_counter()
    try:
        opener = open_gp_search if config.search.kind == "gp" else open_discovery
        run = opener(config, resume=resume, backend=backend)
        try:
            run.run()
            best, board = write_outputs(run.store, out, str(config.bench))
            summary = summarize(run.store)
            meta = run.store.meta()
            wall = meta.get("wall_seconds", 0.0) + time.perf_counter() - start
            run.store.set_meta(wall_seconds=wall, finished=time.time())
            llm, isolation = meta.get("llm", ""), meta.get("isolation", "")
            transfer, notes = [], []
            if final_check:
                transfer, notes = run_transfer_check(run.store, out, list(config.benches),
                                                     config.execution.device,
                                                     named_benches(config.transfer),
                                                     config.stats_config)
        finally:
            run.close()
        labels = bench_labels(list(config.benches))
        finals = {}
        if final_check and best is not None:  # on every benchmark searched, its test split
            finals = {label: fitness_check(path, best, config.execution.device,
                                           config.stats_config)
                      for label, path in zip(labels, config.benches)}
        final = finals.get(labels[0], [])
        logging.getLogger("tapq.discover").info("finished in %.0f s; best proxy: %s",
                                                wall, best)
        return DiscoveryResult(out, summary, best, board, final, wall, llm, isolation,
                               transfer, notes, labels, config.fitness, finals)
    finally:
        logging.getLogger("tapq").removeHandler(handler)
        handler.close()
