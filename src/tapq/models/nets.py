"""The built-in networks.

Both are deliberately small (they must train in minutes on two CPU cores) yet hold the
layer kinds that make mixed precision interesting: plain and strided 3x3 convolutions,
1x1 shortcut convolutions, a depthwise-separable stage (depthwise layers are the classic
quantization-sensitive case), residual additions, and a Linear classifier.
"""
from __future__ import annotations

import torch
from torch import nn


def _conv_bn(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1
             ) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups,
                                   bias=False), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN, identity or 1x1 conv-BN shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv_bn(in_ch, out_ch, 3, stride)
        self.conv2 = _conv_bn(out_ch, out_ch, 3, 1)
        self.shortcut = (nn.Identity() if stride == 1 and in_ch == out_ch
                         else _conv_bn(in_ch, out_ch, 1, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.conv1(x))
        return torch.relu(self.conv2(out) + self.shortcut(x))


class SeparableBlock(nn.Module):
    """MobileNet-style residual block: depthwise 3x3 then pointwise 1x1, twice."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 2) -> None:
        super().__init__()
        self.dw1 = _conv_bn(in_ch, in_ch, 3, stride, groups=in_ch)
        self.pw1 = _conv_bn(in_ch, out_ch, 1)
        self.dw2 = _conv_bn(out_ch, out_ch, 3, 1, groups=out_ch)
        self.pw2 = _conv_bn(out_ch, out_ch, 1)
        self.shortcut = _conv_bn(in_ch, out_ch, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.pw1(torch.relu(self.dw1(x))))
        out = self.pw2(torch.relu(self.dw2(out)))
        return torch.relu(out + self.shortcut(x))


class MnistResNet(nn.Module):
    """The embedded default (``mnist-cnn``): 14 quantizable layers, ~42k parameters.

    stem 3x3 (28x28) -> basic block (28x28) -> basic block, stride 2 (14x14)
    -> separable block, stride 2 (7x7) -> global average pool -> Linear.
    """

    def __init__(self, width: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = _conv_bn(1, width, 3)
        self.layer1 = BasicBlock(width, width)
        self.layer2 = BasicBlock(width, 2 * width, stride=2)
        self.layer3 = SeparableBlock(2 * width, 4 * width, stride=2)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class DigitsCNN(nn.Module):
    """A tiny net for sklearn's 8x8 digits (``digits-cnn``): conv, strided conv,
    depthwise + pointwise, Linear -- every layer kind in five layers, for fast tests."""

    def __init__(self, width: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = _conv_bn(1, width, 3)
        self.conv2 = _conv_bn(width, 2 * width, 3, stride=2)
        self.dw = _conv_bn(2 * width, 2 * width, 3, groups=2 * width)
        self.pw = _conv_bn(2 * width, 2 * width, 1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.pw(torch.relu(self.dw(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
