"""What a discovery run is configured by, in four groups: the LLM, the search, the sandbox
limits and where the work runs. The search is the LLM's (``kind="llm"``) or the symbolic
baseline's (``kind="gp"``, genetic programming, settings in gp/settings.py).

Which settings make a run *this* run -- so that ``--resume`` may continue it only with the
same values -- is marked on the fields themselves (``resume="name"`` in their metadata) and
collected by `DiscoverConfig.resume_key`, instead of a list kept by hand beside them. Where
work runs (executor, workers, device) and how the LLM is reached (URL, key, threads) never
change what a candidate scores, so a run may be resumed with other ones.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path

from tapq.bench import DEFAULT_BENCH
from tapq.discover.controller import ControllerConfig
from tapq.discover.gp.settings import GPConfig
from tapq.proxies.stats_config import StatsConfig, parse_stats_option
from tapq.sandbox import SandboxLimits

PROMPT_STYLES = ("teach", "plain")
SEARCH_KINDS = ("llm", "gp")
FITNESS_RULES = ("mean", "min")  # how a candidate's fitness on several benchmarks combines

__all__ = ["FITNESS_RULES", "PROMPT_STYLES", "SEARCH_KINDS", "DiscoverConfig", "ExecutionConfig", "LLMConfig",
           "SearchConfig", "resume_field"]


_NONE = object()


def resume_field(name: str, default, legacy=_NONE, **kwargs):
    """A dataclass field that is part of the resume key under `name`. `legacy` is the
    value runs stored before the setting existed ran with, when that is not `default`:
    such a run resumes (or replays) with it, whatever the new default."""
    metadata = {"resume": name} if legacy is _NONE else {"resume": name, "legacy": legacy}
    return field(default=default, metadata=metadata, **kwargs)


@dataclass(frozen=True)
class LLMConfig:
    """Attributes:
        spec: ``embedded`` (offline default), ``embedded:FILE.gguf`` or ``openai:MODEL``.
        base_url: endpoint of an OpenAI-compatible server.
        api_key_env: environment variable holding the API key.
        threads: threads for the embedded model (None: what is free).
        temperature, max_tokens: sampling of every request.
    """

    spec: str = resume_field("llm", "embedded")
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    threads: int | None = None
    temperature: float = resume_field("temperature", 0.8)
    max_tokens: int = resume_field("max_tokens", 400)


@dataclass(frozen=True)
class SearchConfig:
    """Attributes:
        generations: generations including the initial one (not a resume key: a finished
            run may be continued for more generations).
        population: candidates kept; also how many the initial generation asks for.
        children: candidates asked per later generation (None: = population).
        seed: seeds every random choice and every LLM request.
        repair_rate: chance that a mutation repairs a failed candidate of the previous
            generation (its error shown to the LLM) instead of improving a survivor.
        controller: the strategy controller (``dpo`` or ``uniform``) and its parameters
            (LLM search only).
        prompts: ``teach`` (standing, target and a diagnosis of the parent; prompts/teach)
            or ``plain`` (the parent and its score only; prompts/plain, how runs were
            asked before -- stored runs without this setting resume as ``plain``).
        seeds: score every human baseline and hint body before the first LLM call, as
            the reference for novelty and the first parents (runs stored before seeds
            existed resume without). A GP search scores them too, as the reference for
            novelty only: they are programs, not expression trees to vary.
        kind: ``llm`` (the LLM writes candidates) or ``gp`` (genetic programming over the
            same statistics: the symbolic baseline).
        gp: the GP's settings (``gp`` only).
    """

    generations: int = 3
    population: int = resume_field("population", 6)
    children: int | None = resume_field("children", None)
    seed: int = resume_field("seed", 0)
    repair_rate: float = resume_field("repair_rate", 0.25)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    prompts: str = resume_field("prompts", "teach", legacy="plain")
    seeds: bool = resume_field("seeds", True, legacy=False)
    kind: str = resume_field("search", "llm")
    gp: GPConfig = field(default_factory=GPConfig)

    def __post_init__(self) -> None:
        if self.prompts not in PROMPT_STYLES:
            raise ValueError(f"unknown prompt style {self.prompts!r}; use one of "
                             f"{PROMPT_STYLES}")
        if self.kind not in SEARCH_KINDS:
            raise ValueError(f"unknown search {self.kind!r}; use one of {SEARCH_KINDS}")

    @property
    def children_per_generation(self) -> int:
        """Candidates asked in every generation after the first."""
        return self.children or self.population


@dataclass(frozen=True)
class ExecutionConfig:
    """Where work runs (never a resume key: it changes no score).

    Attributes:
        executor: where candidates are evaluated: ``local`` or ``ray`` (tapq.executors).
        workers: local worker processes evaluating candidates (1: one after another, in
            this process's sandbox), or the CPUs of a private local Ray instance.
        ray_address: the Ray cluster to evaluate on (``ray`` only).
        device: where the layer statistics are computed if not cached.
    """

    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class DiscoverConfig:
    """Attributes:
        bench: the ground-truth benchmark fitness is measured on (the first, when there
            are several: its network is the one prompts describe and diagnose).
        more_benches: further benchmarks a candidate is scored on, each on its own search
            split, primary target and model statistics (``--bench A --bench B``).
        fitness: how the benchmarks' iso-budget rhos combine into the fitness (and the
            select figures into the final choice): ``mean`` or ``min`` (the worst one).
        out: the run folder (database, log, best_proxy.py, leaderboard).
        llm: the LLM and its sampling.
        search: the evolution's size, seed and strategy controller.
        limits: sandbox limits per candidate.
        execution: where candidates are evaluated and statistics computed.
        transfer: the benchmarks the transfer check judges the best novel proxy on, less
            those searched (None: every shipped one; empty: no transfer check). Not a
            resume key: it changes no candidate's score.
        replay: a finished run's folder: answer every request from its LLM cache (an
            exact replay without the LLM; a request it never made is an error).
        stats: the statistics candidates can read, as ``--stats`` names them (None: the
            model's defaults; ``+ptq,delta_loss``: the defaults plus the opt-in ones),
            canonical (tapq.proxies.canonical_stats). A resume key: it changes what a
            candidate sees, hence its score.
    """

    bench: Path = resume_field("bench", DEFAULT_BENCH)
    more_benches: tuple[Path, ...] = resume_field("more_benches", ())
    fitness: str = resume_field("fitness", "mean")
    out: Path = Path("tapq-run")
    llm: LLMConfig = field(default_factory=LLMConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    replay: Path | None = None
    transfer: tuple[Path, ...] | None = None
    stats: str | None = resume_field("stats", None)

    def __post_init__(self) -> None:
        if self.fitness not in FITNESS_RULES:
            raise ValueError(f"unknown fitness {self.fitness!r}; use one of {FITNESS_RULES}")
        object.__setattr__(self, "more_benches", tuple(Path(b) for b in self.more_benches))
        if self.transfer is not None:
            object.__setattr__(self, "transfer", tuple(Path(b) for b in self.transfer))

    @property
    def stats_config(self) -> StatsConfig:
        """The statistics settings every benchmark's statistics are computed with."""
        statistics, extra = parse_stats_option(self.stats)
        return StatsConfig(statistics=statistics, extra=extra)

    @property
    def benches(self) -> tuple[Path, ...]:
        """Every benchmark the run searches, the first one first."""
        return (Path(self.bench), *self.more_benches)

    def resume_key(self) -> dict:
        """The settings a resumed run must share with the stored one, by name."""
        key = _resume_values(self)
        key["bench"] = str(Path(self.bench).resolve())
        key["more_benches"] = [str(Path(b).resolve()) for b in self.more_benches]
        # Only the chosen search's settings: a GP run has no LLM, sampling or controller
        # (and the report must not show them), an LLM run no GP settings.
        unused = _GP_KEYS if self.search.kind == "llm" else _LLM_KEYS
        return {k: v for k, v in key.items() if k not in unused}

    @staticmethod
    def resume_defaults() -> dict:
        """What a run stored before a setting existed (or was a resume key) ran with: its
        legacy value where it has one, else its default."""
        defaults = _resume_values(DiscoverConfig())
        defaults.pop("bench")
        defaults["more_benches"] = []  # as the key stores it (JSON)
        return {**defaults, **_legacy_values(DiscoverConfig)}

    def settled(self, stored: dict | None) -> DiscoverConfig:
        """This configuration continuing the run whose stored resume key is `stored`
        (None: a new run, unchanged). A setting whose default changed (it has a legacy
        value) and that is left at its default continues as the stored run had it: the
        stored value, or the legacy value when the run predates the setting -- so a run
        stored before teaching prompts resumes and replays with plain ones."""
        if stored is None:
            return self
        config = self
        current = _resume_values(self)
        defaults = _resume_values(DiscoverConfig())
        for name, legacy in _legacy_values(DiscoverConfig).items():
            if current[name] == defaults[name]:
                config = _with_resume_value(config, name, stored.get(name, legacy))
        return config


def _resume_values(config) -> dict:
    """Resume-key values of `config` and of the configs nested in it, by their names."""
    values = {}
    for item in fields(config):
        value = getattr(config, item.name)
        if "resume" in item.metadata:
            values[item.metadata["resume"]] = value
        elif is_dataclass(value):
            values.update(_resume_values(value))
    return values


def _legacy_values(cls) -> dict:
    """Legacy values of the resume settings that have one, by name."""
    values = {}
    for item in fields(cls):
        if "legacy" in item.metadata:
            values[item.metadata["resume"]] = item.metadata["legacy"]
        elif item.default_factory is not MISSING and is_dataclass(item.default_factory):
            values.update(_legacy_values(item.default_factory))
    return values


def _with_resume_value(config, name: str, value):
    """`config` with the resume setting `name` (at any depth) set to `value`."""
    for item in fields(config):
        current = getattr(config, item.name)
        if item.metadata.get("resume") == name:
            return replace(config, **{item.name: value})
        if is_dataclass(current):
            changed = _with_resume_value(current, name, value)
            if changed is not current:
                return replace(config, **{item.name: changed})
    return config


_GP_KEYS = frozenset(_resume_values(GPConfig()))
_LLM_KEYS = frozenset({*_resume_values(LLMConfig()), *_resume_values(ControllerConfig()),
                       "repair_rate", "prompts"})
