import pytest
import torch
from torch import nn

from tapq.quant import BitConfig, measure_costs


class _Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)     # 108 weights
        self.bn = nn.BatchNorm2d(4)                                # folds into conv (+4 bias)
        self.dw = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4)  # 36 weights + 4 bias
        self.fc = nn.Linear(4 * 4 * 4, 10)                         # 640 weights + 10 bias

    def forward(self, x):
        x = torch.relu(self.dw(torch.relu(self.bn(self.conv(x)))))
        return self.fc(x.flatten(1))


def test_costs_match_a_hand_count():
    costs = measure_costs(_Small().eval(), torch.randn(1, 3, 8, 8))
    # MACs = output elements x (in_channels / groups) x kernel
    assert costs.layers["conv"].macs == 8 * 8 * 4 * 3 * 9
    assert costs.layers["dw"].macs == 4 * 4 * 4 * 1 * 9
    assert costs.layers["fc"].macs == 64 * 10
    assert [c.num_params for c in costs.layers.values()] == [108, 36, 640]
    assert costs.other_params == 4 + 4 + 10  # biases, including the one BN folding made

    config = BitConfig(w={"conv": 8, "dw": 4, "fc": 2}, a={"conv": 8, "dw": 6, "fc": 4})
    bits = 108 * 8 + 36 * 4 + 640 * 2 + 18 * 32
    assert costs.size_bits(config) == bits
    assert costs.size_mb(config) == pytest.approx(bits / 8 / 2 ** 20)
    assert costs.bitops(config) == 6912 * 8 * 8 + 576 * 4 * 6 + 640 * 2 * 4
    assert costs.avg_w_bits(config) == pytest.approx((108 * 8 + 36 * 4 + 640 * 2) / 784)


def test_full_precision_counts_32_bits_everywhere():
    costs = measure_costs(_Small().eval(), torch.randn(1, 3, 8, 8))
    fp = BitConfig()
    assert costs.size_bits(fp) == (784 + 18) * 32
    assert costs.bitops(fp) == costs.total_macs * 32 * 32


def test_batch_of_example_does_not_scale_macs():
    one = measure_costs(_Small().eval(), torch.randn(1, 3, 8, 8))
    many = measure_costs(_Small().eval(), torch.randn(5, 3, 8, 8))
    assert one.total_macs == many.total_macs


def test_costs_of_a_quantized_model_equal_those_of_the_original():
    from tapq.quant import quantize, uniform_config

    model = _Small().eval()
    x = torch.randn(1, 3, 8, 8)
    quantized = quantize(model, uniform_config(["conv", "dw", "fc"], 4), torch.randn(16, 3, 8, 8))
    assert measure_costs(quantized, x) == measure_costs(model, x)


class _Tokens(nn.Module):
    """A Linear on (batch, tokens, features), the layout of every transformer projection."""

    def __init__(self, tokens=17, dim=8):
        super().__init__()
        self.tokens = tokens
        self.embed = nn.Linear(4, dim)
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        return self.head(self.embed(x.view(len(x), self.tokens, 4)).mean(1))


def test_a_linear_on_tokens_costs_tokens_times_its_macs():
    costs = measure_costs(_Tokens().eval(), torch.randn(2, 17 * 4))
    assert costs.layers["embed"].macs == 17 * 4 * 8   # one matrix-vector product per token
    assert costs.layers["head"].macs == 8 * 3         # the pooled vector: once
    config = BitConfig(w={"embed": 4, "head": 8}, a={"embed": 8, "head": 8})
    assert costs.bitops(config) == 17 * 32 * 4 * 8 + 24 * 8 * 8
    assert costs.layers["embed"].num_params == 32     # size does not depend on tokens
