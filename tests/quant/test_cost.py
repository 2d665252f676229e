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
