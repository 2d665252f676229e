"""The richer statistics (issue 17): network context, patches, activation ranges, the
benchmark's PTQ weights and delta_loss, each against a direct computation, and through
the sandbox."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from tapq.models.efficientnet_lite import SameConv2d
from tapq.proxies import collect_stats, collect_stats_cached
from tapq.proxies.ptq_stats import ptq_settings_from
from tapq.quant import BitConfig, PTQEngine, PTQSettings, fold_batchnorm
from tapq.sandbox import sandboxed_proxy_table

FAST = {"hutchinson_samples": 1, "power_iters": 1}


class SmallNet(nn.Module):
    """A padded conv with BatchNorm, a SAME-padded strided depthwise conv, a 1x1 conv in
    a residual branch, and a Linear: every kind of patch and next op."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.dw = SameConv2d(4, 4, 3, stride=2, groups=4, bias=True)
        self.pw = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(4 * 3 * 3, 3)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        y = torch.relu(self.dw(y))
        y = y + self.pw(y)
        return self.fc(torch.flatten(y, 1))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = SmallNet().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(6, 2, 6, 6)
    y = torch.randint(0, 3, (6,))
    return model, x, y


def _outputs(model, x):
    """Each quantizable layer's input and output on `x`, in the BN-folded model."""
    folded, _ = fold_batchnorm(model, x[:1])
    seen = {}
    handles = [folded.get_submodule(n).register_forward_hook(
        lambda m, a, o, n=n: seen.__setitem__(n, (a[0].detach(), o.detach())))
        for n in ("conv", "dw", "pw", "fc")]
    with torch.no_grad():
        folded(x)
    for h in handles:
        h.remove()
    return folded, seen


def test_network_context_is_what_the_model_says(small):
    model, x, y = small
    stats = collect_stats(model, x, y, statistics=(), **FAST)
    by = {s.name: s for s in stats}
    assert [s.depth for s in stats] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert math.isclose(sum(s.param_share for s in stats), 1.0)
    assert math.isclose(sum(s.mac_share for s in stats), 1.0)
    assert by["conv"].param_share == 72 / (72 + 36 + 16 + 108)
    assert (by["conv"].fan_in, by["dw"].fan_in, by["pw"].fan_in, by["fc"].fan_in) == (18, 9, 4, 36)
    assert (by["conv"].fan_out, by["dw"].fan_out, by["fc"].fan_out) == (36, 9, 3)
    assert (by["dw"].groups, by["conv"].groups) == (4, 1)
    # conv -> (folded BN) -> relu; dw -> relu; pw -> residual add; fc -> output
    assert [s.next_op for s in stats] == ["relu", "relu", "add", "output"]


def test_patches_times_the_weight_are_the_layer_outputs(small):
    model, x, y = small
    stats = collect_stats(model, x, y, statistics=("patches",), max_act_rows=10_000, **FAST)
    folded, seen = _outputs(model, x)
    for layer in stats:
        module = folded.get_submodule(layer.name)
        _, out = seen[layer.name]
        bias = module.bias.detach() if module.bias is not None else 0
        if layer.kind == "linear":
            expected = out - bias
        else:  # (example, position) rows of all channels
            expected = (out - bias[None, :, None, None]).movedim(1, -1).reshape(-1, out.shape[1])
        got = layer.patch_out(layer.weight)
        assert layer.patches.shape[1] == layer.fan_in
        if layer.groups == 1:
            assert torch.allclose(layer.patches @ layer.weight.reshape(len(layer.weight), -1).T,
                                  expected, atol=1e-5)
            assert torch.allclose(got, expected, atol=1e-5)
        else:  # rows are (example, position, group): one channel each
            assert layer.patch_group.tolist() == list(range(layer.groups)) * (len(got) // 4)
            assert torch.allclose(got.reshape(-1, layer.groups), expected, atol=1e-5)


def test_patches_are_bounded_and_seeded(small):
    model, x, y = small
    a = collect_stats(model, x, y, statistics=("patches",), max_act_rows=7, **FAST)
    b = collect_stats(model, x, y, statistics=("patches",), max_act_rows=7, **FAST)
    c = collect_stats(model, x, y, statistics=("patches",), max_act_rows=7, seed=1, **FAST)
    assert [len(s.patches) for s in a] == [7, 7, 7, 6]  # fc: one row per example
    assert all(torch.equal(s.patches, t.patches) for s, t in zip(a, b))
    assert not all(torch.equal(s.patches, t.patches) for s, t in zip(a, c))


def test_activation_ranges_are_the_per_channel_extremes(small):
    model, x, y = small
    stats = collect_stats(model, x, y, statistics=("act_range",), **FAST)
    _, seen = _outputs(model, x)
    for layer in stats:
        for side, tensor in zip(("in", "out"), seen[layer.name]):
            channels = tensor if layer.kind == "linear" else tensor.movedim(1, -1)
            flat = channels.reshape(-1, channels.shape[-1])
            assert torch.allclose(getattr(layer, f"{side}_min"), flat.amin(0))
            assert torch.allclose(getattr(layer, f"{side}_max"), flat.amax(0))
    left_out = collect_stats(model, x, y, statistics=(), **FAST)
    assert all(torch.isnan(s.in_min).all() and len(s.in_min) == s.weight.shape[1] * s.groups
               for s in left_out)


def test_ptq_weights_are_the_engines_and_delta_loss_grows_as_bits_drop(small):
    model, x, y = small
    options = {"weight_rounding": "adaround",
               "adaround": {"iters": 20, "batch_size": 4}}
    stats = collect_stats(model, x, y, statistics=("ptq", "delta_loss"), bits=(2, 4, 8),
                          ptq=options, a_bits=8, background_bits=8, ptq_calib=x, **FAST)
    engine = PTQEngine(model, x, ptq_settings_from(options))
    names = engine.layer_names
    for layer in stats:
        assert layer.ptq == "adaround"
        for b in (2, 4, 8):
            assert torch.equal(layer.ptq_quant(b), engine.quantized_weight(layer.name, b, 8))
        assert torch.isnan(layer.ptq_quant(3)).all()  # not a bit-width it was asked for
        assert torch.equal(layer.ptq_quant(32), layer.weight)
        # delta_loss by hand: the loss with this layer at 2 bits, the others at 8
        def loss(config):
            logits = engine.quantize(BitConfig(config, dict.fromkeys(names, 8)))(x)
            return float(nn.functional.cross_entropy(logits.double(), y))
        background = dict.fromkeys(names, 8)
        expected = loss({**background, layer.name: 2}) - loss(background)
        assert math.isclose(layer.delta_loss[2], expected, rel_tol=1e-6, abs_tol=1e-9)
        assert layer.delta_loss[8] == 0.0 and layer.background_bits == 8
    assert sum(s.delta_kl[2] for s in stats) > sum(s.delta_kl[4] for s in stats) > 0
    assert all(s.delta_kl[2] > s.delta_kl[4] for s in stats)


def test_rtn_ptq_weights_are_the_round_to_nearest_ones(small):
    model, x, y = small
    stats = collect_stats(model, x, y, statistics=("ptq",), bits=(3,), **FAST)
    engine = PTQEngine(model, x, PTQSettings())
    for layer in stats:
        assert layer.ptq == "rtn" and not layer.delta_loss
        assert torch.equal(layer.ptq_quant(3), engine.quantized_weight(layer.name, 3, 8))
        assert torch.allclose(layer.ptq_quant(3), layer.quant(3))


def test_the_cache_keys_the_ptq_options(small, tmp_path, monkeypatch):
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path))
    model, x, y = small
    rtn = collect_stats_cached(model, x, y, statistics=("ptq",), bits=(2,), **FAST)
    ada = collect_stats_cached(model, x, y, statistics=("ptq",), bits=(2,),
                               ptq={"weight_rounding": "adaround", "adaround": {"iters": 40, "lr": 0.2}},
                               **FAST)
    other_calib = collect_stats_cached(model, x, y, statistics=("ptq",), bits=(2,),
                                       ptq_calib=x.flip(0), **FAST)
    assert (rtn[0].ptq, ada[0].ptq) == ("rtn", "adaround")
    assert any(not torch.equal(r.ptq_quant(2), a.ptq_quant(2)) for r, a in zip(rtn, ada))
    assert other_calib[0] is not rtn[0]
    from tapq.proxies import stats_cache
    stats_cache._MEMORY.clear()
    again = collect_stats_cached(model, x, y, statistics=("ptq",), bits=(2,),
                                 ptq={"weight_rounding": "adaround", "adaround": {"iters": 40, "lr": 0.2}},
                                 **FAST)
    assert again == ada  # read back from disk, dict and tensor fields included


PROXY = """
import torch
def sensitivity(layer, bits):
    out = layer.patch_out(layer.weight - layer.ptq_quant(bits)).pow(2).mean()
    span = (layer.in_max - layer.in_min).mean() + (layer.out_max - layer.out_min).mean()
    measured = layer.delta_kl[bits]
    layer.delta_kl[2] = 1e9  # an edit must not reach the next call
    context = layer.depth + layer.param_share + layer.mac_share + layer.fan_in + layer.fan_out
    op = 1.0 if layer.next_op == 'relu' else 2.0
    return float(out * span) + measured + 1e-6 * context * op / layer.groups
"""


def _reference(layer, bits):
    out = layer.patch_out(layer.weight - layer.ptq_quant(bits)).pow(2).mean()
    span = (layer.in_max - layer.in_min).mean() + (layer.out_max - layer.out_min).mean()
    context = layer.depth + layer.param_share + layer.mac_share + layer.fan_in + layer.fan_out
    op = 1.0 if layer.next_op == "relu" else 2.0
    return float(out * span) + layer.delta_kl[bits] + 1e-6 * context * op / layer.groups


def test_every_new_field_reaches_a_sandboxed_proxy(small):
    model, x, y = small
    stats = collect_stats(model, x, y, bits=(2, 4), **FAST)
    table = sandboxed_proxy_table(PROXY, stats, [2, 4])
    expected = [[_reference(layer, b) for b in (2, 4)] for layer in stats]
    assert table.shape == (4, 2)
    assert table == pytest.approx(np.array(expected), rel=1e-5)
