"""The human baseline proxies: finite, ordered in bits, the formulas they document."""
import math

import numpy as np
import pytest
import torch

from tapq.proxies import BASELINE_PROXIES, LayerStats, collect_stats, proxy_table
from tapq.proxies import baselines

BITS = (2, 3, 4, 6, 8, 32)
# Functions of the quantization perturbation W - Q_b(W) alone (times a per-layer
# constant): they must fall with bits wherever the quantization error does.
PERTURBATION_PROXIES = ("hawq_v1", "hawq_v2", "fisher", "quant_mse", "sqnr", "snip")


@pytest.fixture(scope="module")
def digits_stats(digits_model, digits):
    return collect_stats(digits_model, digits.calib.x[:64], digits.calib.y[:64],
                         hutchinson_samples=4, power_iters=5)


def _layer(weight, act_out=None, **overrides):
    """A hand-made LayerStats around `weight`."""
    act_out = torch.randn(50, weight.shape[0]) if act_out is None else act_out
    fields = dict(name="hand", kind="linear", index=0, num_params=weight.numel(), macs=1,
                  weight=weight, grad=torch.full_like(weight, 0.5), act_in=torch.randn(50, 4),
                  act_out=act_out, hessian_trace=2.0 * weight.numel(), hessian_trace_avg=2.0,
                  hessian_eig=-3.0, fisher=torch.full_like(weight, 0.25),
                  synflow=torch.full_like(weight, 2.0))
    return LayerStats(**{**fields, **overrides})


def test_the_baselines_are_the_documented_set_in_a_stable_order():
    assert list(BASELINE_PROXIES) == ["hawq_v1", "hawq_v2", "ompq", "fisher", "snip",
                                      "synflow", "quant_mse", "sqnr", "size"]
    for proxy in BASELINE_PROXIES.values():
        assert proxy.__doc__ and proxy.__doc__.strip()


@pytest.mark.parametrize("name", list(BASELINE_PROXIES))
def test_every_baseline_is_finite_on_every_layer_and_bit_width(name, digits_stats):
    table = proxy_table(digits_stats, BASELINE_PROXIES[name], BITS)
    assert table.shape == (len(digits_stats), len(BITS)) and table.dtype == np.float64
    assert np.isfinite(table).all()
    again = proxy_table(digits_stats, BASELINE_PROXIES[name], BITS)
    assert np.array_equal(table, again)  # deterministic


@pytest.mark.parametrize("name", PERTURBATION_PROXIES)
def test_perturbation_proxies_fall_with_bits(name, digits_stats):
    table = proxy_table(digits_stats, BASELINE_PROXIES[name], BITS)
    assert (np.diff(table, axis=1) <= 0).all()
    assert (table[:, 0] > table[:, -2]).all()  # 2 bits strictly worse than 8


@pytest.mark.parametrize("name", ["ompq", "synflow", "size"])
def test_other_proxies_are_lowest_at_full_precision(name, digits_stats):
    table = proxy_table(digits_stats, BASELINE_PROXIES[name], BITS)
    assert (table[:, -1:] <= table).all()


def test_size_prefers_the_larger_configuration(digits_stats):
    table = proxy_table(digits_stats, baselines.size, (2, 8))
    assert table.tolist() == [[-2.0 * s.num_params, -8.0 * s.num_params] for s in digits_stats]
    assert table[:, 1].sum() < table[:, 0].sum()  # all-8-bit scores lower (better) than all-2


def test_formulas_on_a_hand_made_layer():
    weight = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    layer = _layer(weight)
    delta = (weight - layer.quant(3)).double()
    sq = delta.pow(2).sum().item()
    energy = weight.double().pow(2).sum().item()
    assert baselines.hawq_v1(layer, 3) == pytest.approx(3.0 * sq)  # |eigenvalue|
    assert baselines.hawq_v2(layer, 3) == pytest.approx(2.0 * sq)
    assert baselines.fisher(layer, 3) == pytest.approx(0.25 * sq)
    assert baselines.snip(layer, 3) == pytest.approx(0.5 * delta.abs().sum().item())
    assert baselines.synflow(layer, 3) == pytest.approx(2.0 * 24 * sq / energy)
    assert baselines.quant_mse(layer, 3) == pytest.approx(sq / 24)
    assert baselines.sqnr(layer, 3) == pytest.approx(-10 * math.log10(energy / sq))
    assert baselines.sqnr(layer, 32) == pytest.approx(-120.0)
    assert baselines.size(layer, 3) == -72.0
    for name in PERTURBATION_PROXIES + ("ompq", "synflow"):
        value = BASELINE_PROXIES[name](layer, 32)
        assert value == (-120.0 if name == "sqnr" else 0.0)


def test_ompq_rates_redundant_output_features_as_less_important():
    weight = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    orthogonal = torch.randn(500, 8, generator=generator)
    redundant = torch.randn(500, 1, generator=generator).repeat(1, 8)
    redundant += 0.01 * torch.randn(500, 8, generator=generator)
    assert (baselines.ompq(_layer(weight, orthogonal), 4)
            > 2 * baselines.ompq(_layer(weight, redundant), 4))
    # the importance only scales the relative quantization error
    relative = (weight - _layer(weight).quant(4)).pow(2).sum() / weight.pow(2).sum()
    assert baselines.ompq(_layer(weight, redundant), 4) == pytest.approx(
        math.exp(-baselines.OMPQ_BETA) * relative.item(), rel=0.01)


def test_proxy_table_rejects_non_finite_and_non_numeric_values(digits_stats):
    def nan_on_fc(layer, bits):
        return float("nan") if layer.name == "fc" and bits == 4 else 1.0

    with pytest.raises(ValueError, match=r"'fc' at 4 bits.*nan"):
        proxy_table(digits_stats, nan_on_fc, (2, 4))
    with pytest.raises(ValueError, match="inf"):
        proxy_table(digits_stats, lambda layer, bits: math.inf, (2,))
    with pytest.raises(ValueError, match="not a number"):
        proxy_table(digits_stats, lambda layer, bits: "big", (2,))
    with pytest.raises(ValueError, match="not a number"):
        proxy_table(digits_stats, lambda layer, bits: layer.weight, (2,))
    zero_dim = proxy_table(digits_stats, lambda layer, bits: layer.grad.abs().sum() * bits, (2,))
    assert zero_dim[:, 0] == pytest.approx([2 * s.grad.abs().sum().item() for s in digits_stats])
