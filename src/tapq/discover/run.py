"""`discover()`: one call from configuration to outputs, resumable.

Runs the evolution (evolution.py), writes best_proxy.py and the leaderboard
(results.py), logs to ``DIR/discover.log``, and ends with the final check: the best
discovered proxy against every human baseline on the benchmark's *validation* split,
which the search never saw.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from tapq.device import DeviceLike
from tapq.discover.evolution import DiscoverConfig, Discovery
from tapq.discover.llm import LLMBackend
from tapq.discover.results import RunSummary, summarize, write_outputs
from tapq.proxies.baselines import BASELINE_PROXIES
from tapq.proxies.fitness import Fitness
from tapq.proxies.scoring import evaluate_proxies

LOG_FILE = "discover.log"


@dataclass(frozen=True)
class DiscoveryResult:
    """Where a run's outputs are and what it found."""

    out: Path
    summary: RunSummary
    best_proxy: Path | None
    leaderboard: Path
    final: list[Fitness]  # the best discovered proxy first, then every baseline
    wall_seconds: float
    llm: str

    def to_json(self) -> dict:
        return {"out": str(self.out), "llm": self.llm, "wall_seconds": self.wall_seconds,
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
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    handler = _log_to(out)
    start = time.perf_counter()
    try:
        run = Discovery(config, resume=resume, backend=backend)
        try:
            run.run()
            best, board = write_outputs(run.store, out, str(config.bench))
            summary = summarize(run.store)
            meta = run.store.meta()
            wall = meta.get("wall_seconds", 0.0) + time.perf_counter() - start
            run.store.set_meta(wall_seconds=wall, finished=time.time())
            llm = run.llm.name
        finally:
            run.close()
        final = []
        if final_check and best is not None:
            final = evaluate_proxies(config.bench, [str(best), *BASELINE_PROXIES],
                                     config.device)
        logging.getLogger("tapq.discover").info("finished in %.0f s; best proxy: %s",
                                                wall, best)
        return DiscoveryResult(out, summary, best, board, final, wall, llm)
    finally:
        logging.getLogger("tapq").removeHandler(handler)
        handler.close()


def final_compare(bench: str | Path, proxies: list[str], budget: str = "avg-bits=3",
                  device: DeviceLike = None):
    """The proxies' allocations at `budget` on the benchmark's own model, PTQ as the
    benchmark measured (on `device`, default CPU), beside uniform precision and the
    benchmark oracle (CompareRows)."""
    from tapq.allocate import Budget
    from tapq.allocate.workflow import Comparer

    return Comparer.for_bench(bench, proxies, device=device).at([Budget.parse(budget)])


def best_human(final: list) -> str:
    """The human baseline with the best iso-budget rho on the search split."""
    humans = [f for f in final[1:] if math.isfinite(f.spearman_iso)]
    if not humans:
        return "hawq_v2"
    return max(humans, key=lambda f: f.spearman_iso).proxy


def same_ranking(final: list[Fitness]) -> str | None:
    """The baseline that ranks every benchmark configuration exactly as the best
    discovered proxy does (same rank statistics on both splits), if any: a small LLM
    often rediscovers -- or copies -- a known proxy, and a user should be told."""
    if not final or not math.isfinite(final[0].spearman_iso):
        return None
    keys = ("spearman", "kendall", "spearman_top20", "spearman_top50", "spearman_iso",
            "spearman_val", "spearman_iso_val")
    best = final[0]
    for other in final[1:]:
        if all(abs(getattr(best, k) - getattr(other, k)) < 1e-9 for k in keys):
            return other.proxy
    return None
