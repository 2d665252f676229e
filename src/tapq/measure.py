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
    """What one quantized configuration measured (fractions in [0, 1]).

    `fp_acc` / `q_acc` are the data's target: top-1 accuracy with labels, and for
    label-free data agreement with the full-precision model's top-1 (so `fp_acc` is 1).
    `target` says which; `agreement` and `kl` (to full precision, nats) are always there.
    """

    fp_acc: float
    q_acc: float
    q_loss: float
    size_mb: float
    bitops: int
    avg_w_bits: float
    config: BitConfig
    agreement: float = float("nan")
    kl: float = float("nan")
    target: str = "accuracy"
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
                "agreement": self.agreement, "kl": self.kl, "target": self.target,
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
        fp = evaluate(self.engine.fp_model, data.eval)
        self.fp_logits = fp.logits
        self.target = "accuracy" if data.labelled else "agreement"
        self.fp_acc = fp.accuracy if data.labelled else 1.0

    @property
    def layer_names(self) -> list[str]:
        """Quantizable layers of the model, in order."""
        return self.engine.layer_names

    def measure(self, config: BitConfig) -> QuantResult:
        """PTQ under `config`, then the target (accuracy, or agreement for label-free
        data), agreement and KL on the evaluation split, size and BitOps."""
        result = evaluate(self.engine.quantize(config), self.data.eval,
                          reference=self.fp_logits)
        score = result.accuracy if self.data.labelled else result.agreement
        return QuantResult(fp_acc=self.fp_acc, q_acc=score, q_loss=result.loss,
                           size_mb=self.costs.size_mb(config), bitops=self.costs.bitops(config),
                           avg_w_bits=self.costs.avg_w_bits(config), config=config,
                           agreement=result.agreement, kl=result.kl, target=self.target,
                           eval_size=len(self.data.eval))
