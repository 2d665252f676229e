"""From a proxy to a measured model: allocate under a budget, PTQ, evaluate, compare.

The allocation is only as good as the accuracy it buys, so everything here ends in a
measurement (``Measurer``), never in a predicted number. ``compare`` lines up several
proxies at one budget beside two references: the best uniform precision that fits, and
-- when a benchmark of the model is given -- the oracle, the most accurate configuration
the benchmark measured within the budget (what was achievable among those sampled).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from torch import nn

from tapq.allocate.budget import Budget, first_last_pins
from tapq.allocate.milp import allocate
from tapq.bench import BenchStore
from tapq.data import DatasetSplits, load_data
from tapq.device import DeviceLike
from tapq.errors import TapqError
from tapq.evaluate import evaluate
from tapq.measure import Measurer, QuantResult
from tapq.models import BUILTIN_MODELS, load_model
from tapq.progress import track
from tapq.proxies import PTQView, StatsConfig, load_proxy, model_stats, table_of
from tapq.quant import (BitConfig, ModelCosts, PTQSettings, QATConfig, finetune_qat,
                        uniform_config)


@dataclass(frozen=True)
class CompareRow:
    """One line of a comparison: where the configuration came from and what it measured.

    Attributes:
        label: proxy name, ``uniform W{b}`` or ``oracle``.
        source: ``proxy``, ``uniform`` or ``oracle``.
        result: the measured PTQ result.
        qat_acc: accuracy after quantization-aware fine-tuning, when asked for.
        solve_ms: milliseconds the MILP took (proxies only).
    """

    label: str
    source: str
    result: QuantResult
    qat_acc: float | None = None
    solve_ms: float | None = None

    def to_json(self) -> dict:
        """The ``--json`` form."""
        return {"label": self.label, "source": self.source, "qat_acc": self.qat_acc,
                "solve_ms": self.solve_ms, **self.result.to_json()}


def fits(config: BitConfig, costs: ModelCosts, budgets: Sequence[Budget]) -> bool:
    """Whether `config` respects every budget."""
    return all(b.cost(costs, config) <= b.value for b in budgets)


def uniform_within(layers: list[str], costs: ModelCosts, bits: Sequence[int],
                   budgets: Sequence[Budget], a_bits: int, pinned: dict[str, int]
                   ) -> tuple[int, BitConfig] | None:
    """The highest uniform weight bit-width (pins kept) that fits the budgets, if any."""
    for b in sorted(bits, reverse=True):
        config = uniform_config(layers, b, a_bits)
        config = BitConfig({**config.w, **pinned}, config.a, pinned=list(pinned))
        if fits(config, costs, budgets):
            return b, config
    return None


def oracle_config(bench: str, layers: list[str], costs: ModelCosts,
                  budgets: Sequence[Budget]) -> BitConfig | None:
    """The benchmark's most accurate measured configuration that fits the budgets."""
    store = _open_bench_of(bench, layers)
    try:
        meta = store.meta()
        accuracy = {r.config_id: r.accuracy for r in store.results(meta["calib_seeds"][0])
                    if r.accuracy is not None}  # an imported ground truth may lack it
        rows = [c for c in store.configs("sample") if c.id in accuracy]
    finally:
        store.close()
    candidates = [BitConfig(c.w_bits, c.a_bits) for c in rows]
    order = np.argsort([-accuracy[c.id] for c in rows], kind="stable")
    return next((candidates[i] for i in order if fits(candidates[i], costs, budgets)), None)


def _open_bench_of(bench: str, layers: list[str]) -> BenchStore:
    """Open benchmark `bench`; TapqError unless it is one of the model with `layers`."""
    store = BenchStore(bench)
    if store.meta()["layers"] != layers:
        store.close()
        raise TapqError(f"benchmark {bench} is of another model (its layers differ)")
    return store


class Comparer:
    """One model, one dataset, several proxies: allocate and measure at any budget.

    The PTQ engine (with its per-layer caches), the layer statistics and every proxy's
    table are built once, so a sweep over many budgets pays for them once.
    """

    def __init__(self, model: nn.Module, data: DatasetSplits, proxies: Sequence[str],
                 bits: Sequence[int] = (2, 3, 4, 6, 8), a_bits: int = 8,
                 settings: PTQSettings | None = None, pinned: dict[str, int] | None = None,
                 tied: Sequence[Sequence[str]] = (), bench: str | None = None,
                 qat_epochs: int = 0, model_spec: str = "", device: DeviceLike = None,
                 pin_first_last: int | None = None,
                 stats_config: StatsConfig | None = None,
                 budgets: Sequence[Budget] = ()) -> None:
        """`pinned` holds layers at given bits; `pin_first_last` adds the first and last
        layer at that many bits; `tied` groups layers that share a bit-width;
        `stats_config` sets what the proxies' statistics cost (default by model size);
        `budgets`, if given, are checked for feasibility before any statistic is
        computed (an impossible budget is a one-line error, not minutes later)."""
        self.data, self.bits, self.a_bits = data, list(bits), a_bits
        self.tied, self.bench = tied, bench
        self.qat_epochs, self.model_spec = qat_epochs, model_spec
        if qat_epochs and not data.labelled:
            raise TapqError(f"QAT fine-tuning trains on labels and {data.name} has none; "
                            "drop --finetune (label-free data is judged by agreement)")
        loaded = [load_proxy(p) for p in proxies]
        self.measurer = Measurer(model, data, settings, device)
        self.pinned = {**first_last_pins(self.measurer.layer_names, self.bits, pin_first_last),
                       **(pinned or {})}
        if bench:  # the oracle row comes last: check its benchmark before any work
            _open_bench_of(bench, self.measurer.layer_names).close()
        if budgets:  # feasibility does not depend on the proxy: any table will do
            layers = self.measurer.layer_names
            allocate(np.zeros((len(layers), len(self.bits))), layers, self.bits,
                     self.measurer.costs, budgets, self.a_bits, self.pinned, self.tied,
                     self.model_spec)
        # the statistics' PTQ weights and delta_loss follow the PTQ measured here
        view = PTQView(asdict(settings or PTQSettings()), tuple(sorted(self.bits)), a_bits)
        stats = model_stats(model, data, device, stats_config, view) if loaded else []
        self.tables: dict[str, np.ndarray] = {}
        for name, proxy in loaded:
            try:
                self.tables[name] = table_of(proxy, stats, self.bits)
            except (ValueError, TapqError) as error:
                raise TapqError(f"proxy {name} failed: {error}")

    @classmethod
    def for_bench(cls, bench: str | Path, proxies: Sequence[str], ptq: str | None = None,
                  oracle: bool = True, device: DeviceLike = None,
                  stats_config: StatsConfig | None = None) -> "Comparer":
        """A Comparer on a benchmark's own model, data, bit choices and PTQ (or `ptq`), with
        its oracle row unless ``oracle=False``: what a proxy buys on that ground truth.
        `stats_config` sets the proxies' statistics (default by model size)."""
        store = BenchStore(bench)
        try:
            meta = store.meta()
        finally:
            store.close()
        spec = meta["spec"]
        if spec["ptq"] == "imported" and ptq is None:
            raise TapqError(f"{bench} is an imported ground truth: it has no PTQ of its own "
                            "to measure allocations with; give --ptq rtn or adaround")
        return cls(load_model(spec["model"], spec["weights"]), load_data(meta["data"]),
                   proxies, bits=spec["bits"], a_bits=spec["a_bits"],
                   settings=PTQSettings(weight_rounding=ptq or spec["ptq"]),
                   bench=str(bench) if oracle else None, model_spec=spec["model"],
                   device=device, stats_config=stats_config)

    def at(self, budgets: Sequence[Budget], measure: bool = True, references: bool = True
           ) -> list[CompareRow]:
        """Allocate with each proxy under `budgets`, then measure; plus the uniform and
        oracle rows unless ``references=False``. With ``measure=False`` only the
        configurations and their costs are produced (accuracy NaN)."""
        layers, costs = self.measurer.layer_names, self.measurer.costs
        jobs: list[tuple[str, str, BitConfig, float | None]] = []
        for name, table in self.tables.items():
            allocation = allocate(table, layers, self.bits, costs, budgets, self.a_bits,
                                  self.pinned, self.tied, self.model_spec)
            jobs.append((name, "proxy", allocation.config, allocation.solve_ms))
        if references:
            uniform = uniform_within(layers, costs, self.bits, budgets, self.a_bits, self.pinned)
            if uniform:
                jobs.append((f"uniform W{uniform[0]}", "uniform", uniform[1], None))
            best = oracle_config(self.bench, layers, costs, budgets) if self.bench else None
            if best:
                jobs.append(("oracle", "oracle", best, None))
        if not measure:
            return [self._row(*job, measure) for job in jobs]
        return [self._row(*job, measure) for job in track(jobs, "PTQ + evaluation")]

    def _row(self, label: str, source: str, config: BitConfig, solve_ms: float | None,
             measure: bool) -> CompareRow:
        costs = self.measurer.costs
        if not measure:
            nan = float("nan")
            return CompareRow(label, source, QuantResult(
                nan, nan, nan, costs.size_mb(config), costs.bitops(config),
                costs.avg_w_bits(config), config), None, solve_ms)
        result = self.measurer.measure(config)
        qat_acc = None
        if self.qat_epochs:
            # Augment as the model was trained: shifts suit 28x28 digits, not 8x8 ones,
            # and a user's data gets none unless they fine-tune themselves.
            builtin = BUILTIN_MODELS.get(self.model_spec)
            shift = builtin.train.max_shift if builtin else 0
            tuned = finetune_qat(self.measurer.engine.quantize(config), self.data.train,
                                 QATConfig(epochs=self.qat_epochs, max_shift=shift))
            qat_acc = evaluate(tuned, self.data.eval).accuracy
        return CompareRow(label, source, result, qat_acc, solve_ms)


def compare(model: nn.Module, data: DatasetSplits, budgets: Sequence[Budget],
            proxies: Sequence[str], measure: bool = True, references: bool = True,
            **options) -> list[CompareRow]:
    """Several proxies at one budget, measured (see ``Comparer`` for the options)."""
    return Comparer(model, data, proxies, budgets=budgets, **options).at(budgets, measure,
                                                                          references)


def pareto_sweep(comparer: Comparer, budgets: Sequence[Budget], references: bool = True,
                 description: str | None = None) -> list[tuple[Budget, list[CompareRow]]]:
    """Measured rows for each budget in turn: per proxy, the points of its accuracy-vs-size
    and accuracy-vs-BitOps curves (raises TapqError for a budget nothing fits); with
    `references`, each budget's uniform and oracle rows too. `description` labels a
    progress bar over the budgets (none without it)."""
    steps = track(budgets, description) if description else budgets
    return [(budget, comparer.at([budget], references=references)) for budget in steps]


def uniform_sweep(comparer: Comparer, description: str = "PTQ + evaluation"
                  ) -> list[CompareRow]:
    """Every candidate bit-width as a uniform configuration, measured: the curve a mixed
    precision allocation has to lie above."""
    layers = comparer.measurer.layer_names
    rows = []
    for bits in track(comparer.bits, description):
        config = uniform_config(layers, bits, comparer.a_bits)
        rows.append(CompareRow(f"uniform W{bits}", "uniform", comparer.measurer.measure(config)))
    return rows
