"""Assembling a discovery run: everything the loop works with, built once and checked.

`open_discovery` opens (or creates) the run database, refuses a resume with other settings,
wires the LLM through the run's answer cache (or a finished run's, for a replay), prepares
the benchmark's statistics for the sandbox, and restores the controller and population of
a resumed run -- then hands them all to `Discovery`, which only loops.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from tapq.bench import BenchStore, load_bench_data, noise_ceiling_iso
from tapq.correlation import MIN_BAND
from tapq.discover.benches import BenchTask, bench_labels
from tapq.discover.config import DiscoverConfig
from tapq.discover.controller import StrategyController
from tapq.discover.evolution import Discovery, member_of
from tapq.discover.llm import LLMBackend, make_backend
from tapq.discover.llm_cache import CachedBackend
from tapq.discover.population import Member, survivors
from tapq.discover.prompting import all_strategies, task_context
from tapq.discover.seeds import score_seeds
from tapq.discover.store import RunStore
from tapq.discover.task import SearchTask
from tapq.errors import TapqError
from tapq.executors import make_executor
from tapq.proxies import bench_for_scoring, iso_undefined
from tapq.sandbox import SandboxJob, require_isolation, save_stats_for_sandbox

__all__ = ["RUN_DB", "check_bench", "check_benches", "check_resumable", "check_run_folder",
           "open_discovery", "search_task"]

RUN_DB = "run.db"


def check_bench(path: str | Path) -> None:
    """Raise TapqError (one line) unless benchmark `path` can support a search: enough
    measured configurations, and iso-budget fitness defined on its search split, i.e. at
    least one 0.5-bit band with MIN_BAND search configurations. Otherwise every candidate
    would be undefined and the run would end with no answer."""
    store = BenchStore(path)
    try:
        data = load_bench_data(store)
    finally:
        store.close()
    if len(data.avg_bits) < 10:
        raise TapqError(f"{path} has only {len(data.avg_bits)} measured configurations; "
                        "finish building it first")
    why = iso_undefined(data)
    if why:
        raise TapqError(f"{path} cannot support discovery: {why}; discovery needs at least "
                        f"{MIN_BAND} search configurations in one band (build more --configs)")


def check_benches(paths: list[Path] | tuple[Path, ...]) -> None:
    """`check_bench` for each benchmark of a run, and TapqError (one line) when one is
    given twice: the mean over benchmarks would count it twice."""
    seen: dict[Path, Path] = {}
    for path in paths:
        resolved = Path(path).resolve()
        if resolved in seen:
            raise TapqError(f"benchmark {path} is given twice (--bench); name each once")
        seen[resolved] = Path(path)
    for path in paths:
        check_bench(path)


def check_resumable(store: RunStore, config: DiscoverConfig, resume: bool) -> bool:
    """Whether `store` holds a started run; TapqError if this configuration may not
    continue it (no `resume`, or other settings). A setting the stored run predates
    counts as its default."""
    if store.count() == 0:
        return False
    if not resume:
        raise TapqError(f"{config.out} already holds a run; add --resume to continue it, "
                        "or choose another --out")
    stored_key = store.meta().get("config") or {}
    stored = {**DiscoverConfig.resume_defaults(), **stored_key}
    key = config.settled(stored_key).resume_key()
    changed = [k for k in key if stored.get(k) != key[k]]
    if changed:
        raise TapqError(f"cannot resume {config.out}: it was started with other settings "
                        f"({', '.join(changed)})")
    return True


def check_run_folder(config: DiscoverConfig, resume: bool) -> None:
    """Raise TapqError if ``config.out`` holds a run that this one cannot continue: a
    damaged run.db, a started run without `resume`, or one started with other settings.
    For checking up front, so that nothing in the folder is touched."""
    database = Path(config.out) / RUN_DB
    if not database.is_file():
        return
    store = RunStore(database)
    try:
        check_resumable(store, config, resume)
    finally:
        store.close()


class _NoLLM:
    """Stands in for the LLM of a replayed run: it has that LLM's name, never answers."""

    def __init__(self, name: str):
        self.name = name

    def complete(self, *args, **kwargs):
        raise TapqError("replay: the request is not in the source run's cache")


def _replay_source(store: RunStore, source: Path) -> tuple[_NoLLM, dict]:
    """Copy a finished run's LLM answers into `store`; a backend named like its LLM, and
    the source run's stored settings."""
    if not source.is_file():
        raise TapqError(f"nothing to replay: {source} does not exist")
    origin = RunStore(source)
    try:
        meta = origin.meta()
    finally:
        origin.close()
    if not meta.get("llm"):
        raise TapqError(f"{source} is not a finished tapq discovery run")
    store.import_llm_cache(source)
    return _NoLLM(meta["llm"]), meta.get("config") or {}


def _bench_task(path: Path, label: str, stats_path: Path, config: DiscoverConfig
                ) -> BenchTask:
    """One benchmark of the search: its data without the test split, its model's
    statistics (cached per model) written for the sandbox, and the job reading them."""
    data, stats = bench_for_scoring(path, config.execution.device, config.stats_config)
    data = data.without_test()  # discovery never reads the test split
    save_stats_for_sandbox(stats, stats_path)
    job = SandboxJob.from_file(stats_path, data.bit_choices, config.limits)
    return BenchTask(label, Path(path), data, stats, job)


def search_task(config: DiscoverConfig, out: Path, store: RunStore, llm_name: str
                ) -> SearchTask:
    """Every benchmark's data and statistics (written for the sandbox), the fitness
    rule and the prompt context of the first benchmark (shared by the LLM loop and the
    GP search, so both are judged alike)."""
    labels = bench_labels(list(config.benches))
    benches = tuple(
        _bench_task(path, label, out / ("stats.pt" if i == 0 else f"stats_{i}.pt"), config)
        for i, (path, label) in enumerate(zip(config.benches, labels)))
    first = benches[0]
    bench = BenchStore(first.path)
    try:
        ceiling = noise_ceiling_iso(bench)
    finally:
        bench.close()
    context = task_context(first.stats, first.data.bit_choices,
                           ceiling if math.isfinite(ceiling) else 1.0)
    store.set_meta(llm=llm_name, layers=[s.name for s in first.stats],
                   bit_choices=first.data.bit_choices, noise_ceiling_iso=ceiling,
                   fitness_rule=config.fitness,
                   benches=[{"label": b.label, "path": str(b.path.resolve()),
                             "target": b.data.target, "layers": len(b.stats)}
                            for b in benches])
    return SearchTask(benches, context, config.fitness)


def open_discovery(config: DiscoverConfig, resume: bool = False,
                   backend: LLMBackend | None = None) -> Discovery:
    """A ready-to-run `Discovery` for `config`: a new run, or the stored one when `resume`.

    `backend` replaces the LLM named in the configuration (tests, custom clients).
    """
    isolation = require_isolation()  # refuses before anything is created or asked
    execution = config.execution
    executor = make_executor(execution.executor, execution.workers,
                             execution.ray_address)  # starts nothing yet
    out = Path(config.out)
    if resume and not (out / RUN_DB).is_file():
        raise TapqError(f"nothing to resume: {out} holds no run ({RUN_DB} is missing)")
    out.mkdir(parents=True, exist_ok=True)
    store = RunStore(out / RUN_DB)
    stored = store.meta().get("config") if store.count() else None
    backend_for_replay = None
    if config.replay:
        backend_for_replay, source = _replay_source(store, Path(config.replay) / RUN_DB)
        stored = stored if stored is not None else source
    config = config.settled(stored)  # a legacy run continues as it was asked
    if not check_resumable(store, config, resume):
        store.set_meta(config=config.resume_key(), started=time.time())
    store.set_meta(isolation=isolation.describe(), isolated=isolation.isolated)
    raw = backend_for_replay or backend or make_backend(
        config.llm.spec, config.llm.base_url, config.llm.api_key_env, config.llm.threads)
    llm = CachedBackend(raw, store.response_cache(), replay_only=config.replay is not None)
    strategies = {s.key: s for s in all_strategies()}
    done = store.generations()
    theta = done[-1].theta if done else None
    controller = StrategyController(list(strategies), config.search.controller, theta=theta)
    task = search_task(config, out, store, llm.name)
    if config.search.seeds:
        score_seeds(store, task)
    population = _population(store, config.search.population)
    return Discovery(config, store, llm, executor, task, strategies, controller, population)


def _population(store: RunStore, size: int) -> list[Member]:
    """The population after the last finished generation, or before the first: the
    seeds that are programs (the hints' bodies; baselines are not shown as code)."""
    by_id = {c.id: c for c in store.candidates()}
    done = store.generations()
    if done:
        return [member_of(by_id[i]) for i in done[-1].population]
    return survivors([member_of(s) for s in store.seeds() if s.code], size)
