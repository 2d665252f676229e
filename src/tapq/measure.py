"""Measured, not guessed: quantize a configuration, evaluate it, price it.

The one place that turns (model, data, bit configuration, PTQ settings) into the numbers
tapq reports; the CLI, the demo and (later) the benchmark builder all go through it.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from tapq.data import DatasetSplits
from tapq.device import DeviceLike
from tapq.evaluate import evaluate
from tapq.intervals import binomial_interval
from tapq.quant import BitConfig, ModelCosts, PTQEngine, PTQSettings, measure_costs


@dataclass(frozen=True)
class QuantResult:
    """What one quantized configuration measured (accuracies are fractions in [0, 1])."""

    fp_acc: float
    q_acc: float
    q_loss: float
    size_mb: float
    bitops: int
    avg_w_bits: float
    config: BitConfig
    eval_size: int = 0  # evaluation examples q_acc was measured on (0: unknown)

    @property
    def q_acc_ci(self) -> tuple[float, float]:
        """95% binomial (Clopper-Pearson) interval of q_acc over the evaluation set: two
        accuracies whose intervals overlap are not told apart by this evaluation."""
        return binomial_interval(self.q_acc, self.eval_size)

    def to_json(self) -> dict:
        """The ``--json`` form: keys fp_acc, q_acc, size_mb, bitops, config (and extras)."""
        return {"fp_acc": self.fp_acc, "q_acc": self.q_acc, "q_acc_ci": list(self.q_acc_ci),
                "eval_size": self.eval_size, "q_loss": self.q_loss,
                "size_mb": self.size_mb, "bitops": self.bitops, "avg_w_bits": self.avg_w_bits,
                "config": self.config.to_dict()}


class Measurer:
    """A model on a dataset, ready to measure any number of configurations."""

    def __init__(self, model: nn.Module, data: DatasetSplits,
                 settings: PTQSettings | None = None,
                 device: DeviceLike = None) -> None:
        """PTQ and evaluation run on `device` (default CPU); the data stays on the CPU."""
        self.data = data
        self.engine = PTQEngine(model, data.calib, settings, device)
        self.device = self.engine.device
        self.costs: ModelCosts = measure_costs(self.engine.fp_model,
                                               data.calib.x[:1].to(self.device))
        self.fp_acc = evaluate(self.engine.fp_model, data.eval).accuracy

    @property
    def layer_names(self) -> list[str]:
        """Quantizable layers of the model, in order."""
        return self.engine.layer_names

    def measure(self, config: BitConfig) -> QuantResult:
        """PTQ under `config`, then accuracy on the evaluation split, size and BitOps."""
        result = evaluate(self.engine.quantize(config), self.data.eval)
        return QuantResult(fp_acc=self.fp_acc, q_acc=result.accuracy, q_loss=result.loss,
                           size_mb=self.costs.size_mb(config), bitops=self.costs.bitops(config),
                           avg_w_bits=self.costs.avg_w_bits(config), config=config,
                           eval_size=len(self.data.eval))
