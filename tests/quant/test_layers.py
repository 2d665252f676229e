import torch
from torch import nn

from conftest import AttentionNet
from tapq.quant import BitConfig, PTQEngine, QuantLayer, find_quantizable_layers


class _Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU())
        self.blocks = nn.ModuleList([nn.Conv2d(4, 4, 3, groups=4), nn.Conv2d(4, 8, 1, groups=2)])
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        y = self.seq(x)  # (N, 4, L)
        y = y.unsqueeze(-1).expand(-1, -1, -1, y.shape[-1])
        for block in self.blocks:
            y = torch.relu(block(y))
        return self.head(y.mean((2, 3)))


def test_finds_every_quantizable_layer_with_its_kind():
    layers = find_quantizable_layers(_Mixed())
    assert [(i.name, i.kind, i.index) for i in layers] == [
        ("seq.0", "conv", 0), ("blocks.0", "depthwise", 1), ("blocks.1", "conv", 2),
        ("head", "linear", 3)]
    assert layers[1].num_params == 4 * 9


def test_quantized_model_keeps_names_and_leaves_users_model_alone():
    model = _Mixed().eval()
    x = torch.randn(16, 2, 10)
    before = model(x).detach()
    engine = PTQEngine(model, x)
    config = BitConfig(w={"seq.0": 4, "blocks.0": 3, "head": 8}, a={"blocks.1": 6})
    quantized = engine.quantize(config)
    assert [i.name for i in find_quantizable_layers(quantized)] == ["seq.0", "blocks.0",
                                                                   "blocks.1", "head"]
    wrapped = {n: m for n, m in quantized.named_modules() if isinstance(m, QuantLayer)}
    assert set(wrapped) == {"seq.0", "blocks.0", "blocks.1", "head"}
    assert (wrapped["blocks.0"].w_bits, wrapped["blocks.1"].a_bits) == (3, 6)
    assert type(quantized) is _Mixed and not any(isinstance(m, QuantLayer)
                                                 for m in model.modules())
    assert torch.equal(model(x).detach(), before)
    assert not torch.allclose(quantized(x), before)


def test_multihead_attention_projections_are_not_offered_for_quantization():
    # MultiheadAttention reads out_proj.weight itself: a QuantLayer there never runs and
    # its forward breaks, so its Linear must not be listed (it stays full precision).
    from tapq.quant.layers import unquantizable_modules

    model = AttentionNet().eval()
    assert [i.name for i in find_quantizable_layers(model)] == ["embed", "head"]
    assert unquantizable_modules(model) == ["attn"]
    x = torch.randn(8, 5, 4)
    quantized = PTQEngine(model, x).quantize(BitConfig(w={"embed": 4, "head": 4}))
    assert quantized(x).shape == (8, 3)
    assert type(quantized.attn.out_proj) is type(model.attn.out_proj)


class _AuxHead(nn.Module):
    """A network whose `aux` head runs only in training (like Inception's)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
        self.head, self.aux = nn.Linear(32, 10), nn.Linear(32, 10)

    def forward(self, x):
        h = self.body(x)
        return self.head(h) + self.aux(h) if self.training else self.head(h)


def test_a_layer_the_forward_pass_never_calls_stays_full_precision(digits, caplog):
    from tapq.proxies.stats import collect_stats
    from tapq.quant import PTQEngine, PTQSettings, uniform_config

    model = _AuxHead().eval()
    assert [i.name for i in find_quantizable_layers(model)] == ["body.1", "head", "aux"]
    with caplog.at_level("WARNING"):
        live = find_quantizable_layers(model, digits.calib.x[:1])
    assert [(i.name, i.index) for i in live] == [("body.1", 0), ("head", 1)]
    assert "aux: never run by the model's forward pass" in caplog.text
    assert not model.training  # the probe leaves the mode as it was
    engine = PTQEngine(model, digits.calib, PTQSettings(calib_size=32))
    assert engine.layer_names == ["body.1", "head"]
    engine.quantize(uniform_config(engine.layer_names, w_bits=4, a_bits=8))
    stats = collect_stats(model, digits.calib.x[:16], digits.calib.y[:16])
    assert [s.name for s in stats] == ["body.1", "head"]


def test_a_layer_tapq_cannot_quantize_is_a_one_line_error_naming_it():
    import pytest

    from tapq.errors import TapqError

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    torch.nn.utils.parametrizations.weight_norm(model[2])
    with pytest.raises(TapqError, match=r"^layer 2 \(ParametrizedLinear\) has no plain 'weight'"):
        find_quantizable_layers(model)
    lazy = nn.Sequential(nn.LazyConv2d(4, 3))
    with pytest.raises(TapqError, match="layer 0 .* lazy module that was never run"):
        find_quantizable_layers(lazy)


def test_a_quantized_layer_runs_its_modules_own_forward_and_hooks():
    class Doubling(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    torch.manual_seed(0)
    model = nn.Sequential(Doubling(4, 3))
    calls = []
    model[0].register_forward_hook(lambda m, i, o: calls.append(o.shape))
    x = torch.randn(5, 4)
    quantized = PTQEngine(model, x).quantize(BitConfig(w={"0": 8}, a={"0": 32}))
    assert isinstance(quantized[0], QuantLayer)
    with torch.no_grad():  # the 2x of its forward is kept, on the 8-bit weight
        assert torch.allclose(quantized(x), model(x), atol=0.02)
        assert not torch.allclose(quantized(x), model(x) / 2, atol=0.1)
    assert calls and calls[-1] == (5, 3)
