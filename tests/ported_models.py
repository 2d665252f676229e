"""Small models shaped like networks ported from TensorFlow, for MNIST-sized input.

Each is a zero-argument factory (``tests/ported_models.py:same_padding_net`` works as
a ``--model`` spec) with seeded weights and non-trivial BatchNorm statistics, so folding
and quantization are really exercised:

- ``same_padding_net``: ``Conv2d`` subclasses with TensorFlow "SAME" padding computed from
  the input size in their own forward (their ``padding`` attribute stays 0).
- ``circular_net``: conv subclasses with their own forward (circular padding), a
  depthwise one among them.
- ``untraceable_net``: SAME-padding convs, a residual 1x1 conv with a BatchNorm after it,
  and a forward with data-dependent control flow, so torch.fx cannot trace it; the
  16-channel BatchNorms sit near a 10-output Linear, the pair an id()-keyed matcher
  once confused.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class SameConv2d(nn.Conv2d):
    """TensorFlow's "SAME" padding: output size ceil(input / stride), padding chosen per
    call from the input size (asymmetric when odd), as TF ports of EfficientNet do."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + (kh - 1) * self.dilation[0] + 1 - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + (kw - 1) * self.dilation[1] + 1 - iw, 0)
        x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class CircularConv2d(nn.Conv2d):
    """Circular padding of its own (``padding`` stays 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size[0] // 2
        x = F.pad(x, [p, p, p, p], mode="circular")
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    """Seeded weights and BatchNorm statistics that folding visibly changes."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            module.reset_parameters()
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            module.weight.data.copy_(1 + 0.2 * torch.randn(n, generator=generator))
            module.bias.data.copy_(0.1 * torch.randn(n, generator=generator))
    return model.eval()


class SamePaddingNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv2d(1, 8, 3, stride=2, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.conv = SameConv2d(8, 16, 3, stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn0(self.stem(x)))
        x = F.relu(self.bn1(self.conv(x)))
        return self.fc(x.mean((2, 3)))


class CircularNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = CircularConv2d(1, 8, 3, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.dw = CircularConv2d(8, 8, 3, stride=2, groups=8, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn0(self.stem(x)))
        x = F.relu(self.bn1(self.dw(x)))
        return self.fc(F.relu(self.pw(x)).mean((2, 3)))


class UntraceableNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv2d(1, 16, 3, stride=2, bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.dw = SameConv2d(16, 16, 3, groups=16, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.project = nn.Conv2d(16, 16, 1, bias=False)  # the residual branch's 1x1 conv
        self.bn2 = nn.BatchNorm2d(16)
        self.head = SameConv2d(16, 24, 3, stride=2, bias=False)
        self.bn3 = nn.BatchNorm2d(24)
        self.fc = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn0(self.stem(x)))
        y = F.relu6(self.bn1(self.dw(x)))
        x = x + self.bn2(self.project(y))
        x = F.relu6(self.bn3(self.head(x)))
        if x.mean() > 1e6:  # data-dependent control flow: torch.fx cannot trace this
            x = x / x.mean()
        return self.fc(x.mean((2, 3)))


def same_padding_net() -> nn.Module:
    """The SAME-padding model, seeded."""
    return _seeded(SamePaddingNet())


def circular_net() -> nn.Module:
    """The model of conv subclasses with their own forward, seeded."""
    return _seeded(CircularNet())


def untraceable_net() -> nn.Module:
    """The model torch.fx cannot trace, seeded."""
    return _seeded(UntraceableNet())
