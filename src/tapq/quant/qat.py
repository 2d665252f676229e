"""Quantization-aware fine-tuning (QAT) of a PTQ model with learned step sizes (LSQ).

Esser et al., "Learned Step Size Quantization", ICLR 2020. PTQ leaves accuracy on the
table at 2-3 bits because no weight may move to compensate for the rounding of another;
a few epochs of training through the quantizer recover much of it. Rounding passes
gradients straight through (STE), and every step size is a parameter whose gradient is
scaled by g = 1 / sqrt(numel * Qp) so that it learns at the pace of the weights.

    model = PTQEngine(model, data.calib).quantize(config)
    model = finetune_qat(model, data.train, QATConfig(epochs=3))

The result has the same ``QuantLayer`` structure as any PTQ model (fixed ``weight_q`` and
activation parameters), so evaluation, costs and export treat it the same way.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from tapq.data import Split, random_shift
from tapq.device import model_device
from tapq.progress import track
from tapq.quant.layers import QuantLayer, layer_forward, replace_module
from tapq.quant.quantizers import FULL_PRECISION, weight_qmax, weight_scale

_MIN_STEP = 1e-8  # keeps a step size positive however hard the optimiser pushes it


@dataclass(frozen=True)
class QATConfig:
    """How a quantized model is fine-tuned.

    Attributes:
        epochs: passes over the training split.
        batch_size: examples per step.
        lr: peak learning rate of weights and biases (SGD, Nesterov momentum 0.9, cosine
            decay to zero). SGD rather than Adam because Adam divides every gradient by
            its own running magnitude, which would cancel LSQ's gradient scale g.
        step_lr: peak learning rate of the step sizes (same optimiser and schedule).
            Lower than `lr`: a step's gradient sums over every clipped value, and at
            1e-2 the step of ``mnist-cnn``'s classifier input collapsed to zero.
        weight_decay: L2 penalty on weights and biases (never on step sizes).
        max_shift: random translation in pixels for augmentation (0 disables).
        seed: seeds shuffling and augmentation; training is deterministic for a seed.
    """

    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    step_lr: float = 1e-3
    weight_decay: float = 0.0
    max_shift: int = 2
    seed: int = 0


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return (x.round() - x).detach() + x


def _scale_grad(step: torch.Tensor, g: float) -> torch.Tensor:
    """`step` in the forward pass, with its gradient multiplied by `g`."""
    return (step - step * g).detach() + step * g


class _LSQLayer(nn.Module):
    """A trainable stand-in for one ``QuantLayer`` while QAT runs.

    The wrapped layer's own ``weight`` is the latent full-precision weight; ``w_step``
    (per output channel) and ``a_step`` (per tensor) are learned, the activation zero
    point stays the integer PTQ chose.
    """

    def __init__(self, quant: QuantLayer) -> None:
        super().__init__()
        self.layer = quant.layer
        self.w_bits, self.a_bits = quant.w_bits, quant.a_bits
        self.a_zero_point = quant.a_zero_point
        self.name = quant.name
        self.w_step = self.a_step = None
        if self.w_bits < FULL_PRECISION:
            self._init_weight(quant.weight_q)
        if self.a_bits < FULL_PRECISION:
            self.a_step = nn.Parameter(torch.tensor(float(quant.a_scale),
                                                    device=quant.weight_q.device))

    def _init_weight(self, weight_q: torch.Tensor) -> None:
        """Start from the FP weight moved into the rounding bin of its PTQ level.

        Rounding the latent weight then gives back ``weight_q`` exactly, so training
        starts at the PTQ model's accuracy -- also after AdaRound, whose levels are not
        the nearest ones -- while each weight keeps its position inside the bin (how
        close it is to flipping), which initialising to ``weight_q`` itself would lose.
        """
        with torch.no_grad():
            fp = self.layer.weight
            step = weight_scale(fp, self.w_bits, "mse")  # the scale PTQ's RTN used
            s = step.view((-1,) + (1,) * (fp.dim() - 1))
            level = torch.round(weight_q / s)
            offset = (fp / s - level).clamp(-0.49, 0.49)
            fp.copy_((level + offset) * s)
        self.w_step = nn.Parameter(step.clone())

    def quantized_weight(self) -> torch.Tensor:
        """The weight on the learned grid: symmetric, per output channel."""
        weight = self.layer.weight
        if self.w_step is None:
            return weight
        qmax = weight_qmax(self.w_bits)
        g = 1.0 / math.sqrt(weight[0].numel() * qmax)  # each step sees one channel
        s = _scale_grad(self.w_step, g).view((-1,) + (1,) * (weight.dim() - 1))
        return _round_ste(torch.clamp(weight / s, -qmax, qmax)) * s

    def quantized_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input on the learned grid: asymmetric per tensor, fixed zero point."""
        if self.a_step is None:
            return x
        levels = 2 ** self.a_bits - 1
        s = _scale_grad(self.a_step, 1.0 / math.sqrt(x[0].numel() * levels))
        v = torch.clamp(x / s + self.a_zero_point, 0, levels)
        return (_round_ste(v) - self.a_zero_point) * s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_forward(self.layer, self.quantized_input(x), self.quantized_weight())

    def to_quant_layer(self) -> QuantLayer:
        """Freeze the learned grid into a plain ``QuantLayer``.

        The weight is rounded afresh rather than taken from `quantized_weight`: the STE's
        ``(round(x) - x) + x`` is off the integer by float error, the frozen weight is not.
        """
        with torch.no_grad():
            weight = self.layer.weight.detach().clone()
            if self.w_step is not None:
                qmax = weight_qmax(self.w_bits)
                s = self.w_step.detach().view((-1,) + (1,) * (weight.dim() - 1))
                weight = torch.clamp(torch.round(weight / s), -qmax, qmax) * s
        a_scale = float(self.a_step.detach()) if self.a_step is not None else 1.0
        return QuantLayer(self.layer, weight, self.w_bits, self.a_bits, a_scale,
                          int(self.a_zero_point), name=self.name)


def finetune_qat(quantized: nn.Module, train: Split, config: QATConfig = QATConfig()
                 ) -> nn.Module:
    """Fine-tune a PTQ model (from ``PTQEngine.quantize``) with LSQ; return a new model.

    Every ``QuantLayer`` keeps its bit-widths; weights, biases and step sizes train with
    cross-entropy on `train`, and each layer is frozen back into a ``QuantLayer`` whose
    ``weight_q`` lies on its learned grid. Full-precision parts stay unquantized (their
    weights still train). The model stays in eval mode: BatchNorm is already folded, so
    there are no batch statistics to update. `quantized` itself is not changed.
    Training runs where `quantized` is (e.g. on the PTQ engine's device), a batch at a
    time moved there; shuffling and augmentation are drawn on the CPU, as anywhere.
    """
    model = copy.deepcopy(quantized).requires_grad_(True).eval()
    device = model_device(model)
    names = [name for name, module in model.named_modules() if isinstance(module, QuantLayer)]
    lsq = {name: _LSQLayer(model.get_submodule(name)) for name in names}
    for name, layer in lsq.items():
        replace_module(model, name, layer)
    steps = [p for layer in lsq.values() for p in (layer.w_step, layer.a_step) if p is not None]
    step_ids = {id(p) for p in steps}
    others = [p for p in model.parameters() if id(p) not in step_ids]
    optimizer = torch.optim.SGD([{"params": others, "lr": config.lr,
                                  "weight_decay": config.weight_decay},
                                 {"params": steps, "lr": config.step_lr, "weight_decay": 0.0}],
                                momentum=0.9, nesterov=True)
    steps_per_epoch = -(-len(train) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, max(config.epochs * steps_per_epoch, 1))
    generator = torch.Generator().manual_seed(config.seed)
    for _ in track(range(config.epochs), f"QAT ({len(train)} images)"):
        order = torch.randperm(len(train), generator=generator)
        for i in range(0, len(order), config.batch_size):
            index = order[i:i + config.batch_size]
            x = random_shift(train.x[index], config.max_shift, generator).to(device)
            loss = nn.functional.cross_entropy(model(x), train.y[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                for step in steps:
                    step.clamp_(min=_MIN_STEP)
    for name, layer in lsq.items():
        replace_module(model, name, layer.to_quant_layer())
    return model.requires_grad_(False)
