"""The built-in networks.

All are deliberately small (they must train in minutes on two CPU cores) yet hold the
layer kinds that make mixed precision interesting: plain and strided 3x3 convolutions,
1x1 shortcut convolutions, a depthwise-separable stage (depthwise layers are the classic
quantization-sensitive case), residual additions, and a Linear classifier in the CNNs;
Linear projections on (batch, tokens, features) in the vision transformer.
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


class SelfAttention(nn.Module):
    """Multi-head self-attention written with ``nn.Linear`` projections.

    Not ``nn.MultiheadAttention``: its forward calls the projection weights functionally,
    so swapping its Linear submodules for quantized ones would change nothing.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (batch, tokens, 3 * dim) -> three (batch, heads, tokens, head_dim); unflatten and
        # indexing (not tuple-unpacking x.shape) keep the module FX-traceable.
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5, dim=-1)
        return self.proj((weights @ v).transpose(1, 2).flatten(2))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x)) with GELU."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DigitsViT(nn.Module):
    """A small vision transformer for the 8x8 digits (``digits-vit``): 10 quantizable layers.

    2x2 patches by a strided conv -> 16 tokens + a class token, learned position
    embedding -> 2 pre-norm blocks (4-head attention, GELU MLP) -> LayerNorm -> Linear
    on the class token. Every Linear but the head runs on (batch, tokens, dim) inputs.
    """

    def __init__(self, dim: int = 32, heads: int = 4, depth: int = 2, patch: int = 2,
                 image: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, (image // patch) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*(TransformerBlock(dim, heads) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1)
        tokens = self.blocks(tokens + self.pos_embed)
        return self.head(self.norm(tokens[:, 0]))
