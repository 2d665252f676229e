"""From a proxy to a measured model: allocate under a budget, PTQ, evaluate, compare.

The allocation is only as good as the accuracy it buys, so everything here ends in a
measurement (``Measurer``), never in a predicted number. ``compare`` lines up several
proxies at one budget beside two references: the best uniform precision that fits, and
-- when a benchmark of the model is given -- the oracle, the most accurate configuration
the benchmark measured within the budget (what was achievable among those sampled).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from tapq.allocate.budget import Budget
from tapq.allocate.milp import allocate
from tapq.bench.store import BenchStore
from tapq.data import DatasetSplits
from tapq.errors import TapqError
from tapq.evaluate import evaluate
from tapq.measure import Measurer, QuantResult
from tapq.proxies.baselines import proxy_table
from tapq.proxies.scoring import load_proxy, model_stats
from tapq.quant import BitConfig, ModelCosts, PTQSettings, uniform_config


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
    store = BenchStore(bench)
    try:
        meta = store.meta()
        if meta["layers"] != layers:
            raise TapqError(f"benchmark {bench} is of another model (its layers differ)")
        accuracy = {r.config_id: r.accuracy for r in store.results(meta["calib_seeds"][0])}
        rows = [c for c in store.configs("sample") if c.id in accuracy]
    finally:
        store.close()
    candidates = [BitConfig(c.w_bits, c.a_bits) for c in rows]
    order = np.argsort([-accuracy[c.id] for c in rows], kind="stable")
    return next((candidates[i] for i in order if fits(candidates[i], costs, budgets)), None)


def compare(model: nn.Module, data: DatasetSplits, budgets: Sequence[Budget],
            proxies: Sequence[str], bits: Sequence[int] = (2, 3, 4, 6, 8), a_bits: int = 8,
            settings: PTQSettings | None = None, pinned: dict[str, int] | None = None,
            tied: Sequence[Sequence[str]] = (), bench: str | None = None,
            qat_epochs: int = 0, model_spec: str = "", measure: bool = True,
            references: bool = True) -> list[CompareRow]:
    """Allocate with each proxy under `budgets`, then measure; plus uniform and oracle rows.

    With ``measure=False`` only the configurations and their costs are produced (accuracy
    NaN), for when the user wants the bits and not the wait; ``references=False`` leaves
    out the uniform and oracle rows.
    """
    measurer = Measurer(model, data, settings)
    layers, costs = measurer.layer_names, measurer.costs
    pinned = dict(pinned or {})
    loaded = [load_proxy(p) for p in proxies]
    stats = model_stats(model, data) if loaded else []
    jobs: list[tuple[str, str, BitConfig, float | None]] = []
    for name, proxy in loaded:
        try:
            table = proxy_table(stats, proxy, list(bits))
        except ValueError as error:
            raise TapqError(f"proxy {name} failed: {error}")
        allocation = allocate(table, layers, bits, costs, budgets, a_bits, pinned, tied,
                              model_spec)
        jobs.append((name, "proxy", allocation.config, allocation.solve_ms))
    uniform = uniform_within(layers, costs, bits, budgets, a_bits, pinned) if references else None
    if uniform:
        jobs.append((f"uniform W{uniform[0]}", "uniform", uniform[1], None))
    if bench and references:
        best = oracle_config(bench, layers, costs, budgets)
        if best:
            jobs.append(("oracle", "oracle", best, None))
    rows = []
    for label, source, config, solve_ms in jobs:
        result = measurer.measure(config) if measure else QuantResult(
            float("nan"), float("nan"), float("nan"), costs.size_mb(config),
            costs.bitops(config), costs.avg_w_bits(config), config)
        qat_acc = None
        if qat_epochs:
            from tapq.quant.qat import QATConfig, finetune_qat

            tuned = finetune_qat(measurer.engine.quantize(config), data.train,
                                 QATConfig(epochs=qat_epochs))
            qat_acc = evaluate(tuned, data.eval).accuracy
        rows.append(CompareRow(label, source, result, qat_acc, solve_ms))
    return rows
