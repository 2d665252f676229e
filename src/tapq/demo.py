"""The main job on the embedded default.

It loads (or trains) the default model and measures uniform configurations (W8A8 ...
W2A8) under both weight-rounding methods, then shows the shipped ground-truth benchmark
with its noise ceiling and how well each human baseline proxy ranks it. Later stages
(allocation, discovery, report) extend this same job.
"""
from __future__ import annotations

from dataclasses import dataclass

from tapq.bench import DEFAULT_BENCH, BenchStore, bench_info

from tapq.data import load_data
from tapq.measure import Measurer, QuantResult
from tapq.models import DEFAULT_MODEL, default_data_for, load_model
from tapq.progress import track
from tapq.proxies.fitness import Fitness
from tapq.proxies.scoring import evaluate_proxies
from tapq.quant import FULL_PRECISION, PTQSettings, uniform_config

DEMO_BITS = (8, 4, 3, 2)
DEMO_METHODS = ("rtn", "adaround")


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

    def to_json(self) -> dict:
        """The ``--json`` form."""
        return {"ptq": [{"label": r.label, "ptq": r.ptq, **r.result.to_json()} for r in self.rows],
                "bench": self.bench, "proxies": [f.to_json() for f in self.fitness]}


def run_demo() -> DemoResult:
    """The PTQ table of the default model, its benchmark and the baseline proxies' fitness."""
    store = BenchStore(DEFAULT_BENCH)
    try:
        info = bench_info(store)
    finally:
        store.close()
    return DemoResult(measure_uniform(), info, evaluate_proxies(DEFAULT_BENCH))


def measure_uniform(model_spec: str = DEFAULT_MODEL, a_bits: int = 8) -> list[DemoRow]:
    """Measure full precision, W8A8 ... W2A8, and W2A8 with the first and last layer
    pinned at 8 bits, under RTN and under AdaRound."""
    model = load_model(model_spec)
    data = load_data(default_data_for(model_spec) or "mnist")
    rows: list[DemoRow] = []
    jobs = [(method, bits) for method in DEMO_METHODS for bits in DEMO_BITS]
    measurers = {}
    for method, bits in track(jobs, "PTQ + evaluation"):
        if method not in measurers:
            measurers[method] = Measurer(model, data, PTQSettings(weight_rounding=method))
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
