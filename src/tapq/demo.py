"""The main job on the embedded default, end to end.

1. Measure uniform configurations (W8A8 ... W2A8) of the default model under both
   weight-rounding methods.
2. Show the shipped ground-truth benchmark (noise ceiling) and how well each human
   baseline proxy ranks it.
3. Discover proxies with the embedded LLM for a few generations (offline, resumable:
   running the demo again continues or reuses the run in its folder).
4. The final check: the best novel proxy (never a copy of a seed) against every
   baseline on the validation split, then allocation at the default budget with it and with the best human proxy,
   each measured by PTQ beside uniform precision and the benchmark oracle.
5. The HTML report of it all (``tapq-demo/report.html``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tapq.bench import DEFAULT_BENCH, BenchStore, bench_info
from tapq.data import load_data
from tapq.device import DeviceLike
from tapq.measure import Measurer, QuantResult
from tapq.models import DEFAULT_MODEL, default_data_for, load_model
from tapq.progress import track
from tapq.proxies import Fitness, evaluate_proxies
from tapq.quant import FULL_PRECISION, PTQSettings, uniform_config

DEMO_BITS = (8, 4, 3, 2)
DEMO_METHODS = ("rtn", "adaround")
DEMO_BUDGET = "avg-bits=3"


@dataclass(frozen=True)
class DemoSettings:
    """Attributes:
        out: folder of the discovery run (and, later, the report).
        discover: run discovery (False: stop after the baseline table).
        llm: LLM spec for discovery (``embedded`` runs offline).
        generations, population: size of the discovery run.
        budget: the allocation budget of the final comparison.
        device: where models run (``cpu``, ``cuda``, ``cuda:N``).
    """

    out: Path = Path("tapq-demo")
    discover: bool = True
    llm: str = "embedded"
    generations: int = 3
    population: int = 6
    budget: str = DEMO_BUDGET
    device: str = "cpu"

    def discover_config(self):
        """The discovery run of the demo (on the shipped benchmark)."""
        from tapq.discover import DiscoverConfig, ExecutionConfig, LLMConfig, SearchConfig

        return DiscoverConfig(bench=DEFAULT_BENCH, out=self.out, llm=LLMConfig(spec=self.llm),
                              search=SearchConfig(generations=self.generations,
                                                  population=self.population),
                              execution=ExecutionConfig(device=self.device))


@dataclass(frozen=True)
class DemoRow:
    """One line of the demo table."""

    label: str
    ptq: str
    result: QuantResult


@dataclass(frozen=True)
class DemoResult:
    """Everything the main job measured."""

    rows: list[DemoRow]
    bench: dict
    fitness: list[Fitness]
    discovery: object | None = None  # DiscoveryResult
    compare: list = field(default_factory=list)  # CompareRows at the demo budget
    budget: str = DEMO_BUDGET
    report: object | None = None  # ReportResult

    def to_json(self) -> dict:
        """The ``--json`` form."""
        return {"ptq": [{"label": r.label, "ptq": r.ptq, **r.result.to_json()} for r in self.rows],
                "bench": self.bench, "proxies": [f.to_json() for f in self.fitness],
                "discovery": self.discovery.to_json() if self.discovery else None,
                "budget": self.budget, "compare": [r.to_json() for r in self.compare],
                "report": str(self.report.html) if self.report else None}


def run_demo(settings: DemoSettings = DemoSettings(),
             on_step: Callable[[str, object], None] = lambda stage, value: None) -> DemoResult:
    """The whole main job (see the module docstring). `on_step(stage, value)` is called as
    each stage finishes (``ptq``, ``bench``, ``baselines``, ``discovery``, ``compare``), so
    a caller can show results while the rest runs."""
    rows = measure_uniform(device=settings.device)
    on_step("ptq", rows)
    store = BenchStore(DEFAULT_BENCH)
    try:
        info = bench_info(store)
    finally:
        store.close()
    on_step("bench", info)
    baselines = evaluate_proxies(DEFAULT_BENCH, device=settings.device)
    on_step("baselines", baselines)
    if not settings.discover:
        return DemoResult(rows, info, baselines, budget=settings.budget)
    from tapq.discover import RUN_DB, compare_at_budget, discover, human_to_beat

    found = discover(settings.discover_config(), resume=(settings.out / RUN_DB).exists())
    on_step("discovery", found)
    compared = []
    if found.best_proxy is not None:
        compared = compare_at_budget(DEFAULT_BENCH,
                                     [str(found.best_proxy), human_to_beat(found.final)],
                                     settings.budget, settings.device)
    on_step("compare", compared)
    report = None
    if found.best_proxy is not None:
        from tapq.report import write_report

        report = write_report(run=settings.out, budget=float(settings.budget.split("=")[1]),
                              device=settings.device)
    on_step("report", report)
    return DemoResult(rows, info, baselines, found, compared, settings.budget, report)


def measure_uniform(model_spec: str = DEFAULT_MODEL, a_bits: int = 8,
                    device: DeviceLike = None) -> list[DemoRow]:
    """Measure full precision, W8A8 ... W2A8, and W2A8 with the first and last layer
    pinned at 8 bits, under RTN and under AdaRound, on `device` (default CPU)."""
    model = load_model(model_spec)
    data = load_data(default_data_for(model_spec) or "mnist")
    rows: list[DemoRow] = []
    jobs = [(method, bits) for method in DEMO_METHODS for bits in DEMO_BITS]
    measurers = {}
    for method, bits in track(jobs, "PTQ + evaluation"):
        if method not in measurers:
            measurers[method] = Measurer(model, data, PTQSettings(weight_rounding=method),
                                         device)
        measurer = measurers[method]
        if not rows:
            fp = uniform_config(measurer.layer_names, FULL_PRECISION, FULL_PRECISION,
                                model=model_spec)
            rows.append(DemoRow("FP32", "-", measurer.measure(fp)))
        config = uniform_config(measurer.layer_names, bits, a_bits, model=model_spec)
        rows.append(DemoRow(f"W{bits}A{a_bits}", method, measurer.measure(config)))
        if bits == min(DEMO_BITS):  # the usual rescue: first and last layer at 8 bits
            pinned = uniform_config(measurer.layer_names, bits, a_bits, pin_first_last=8,
                                    model=model_spec)
            rows.append(DemoRow(f"W{bits}A{a_bits}, first/last 8", method,
                                measurer.measure(pinned)))
    return rows
