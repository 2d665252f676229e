import pytest
import torch

from tapq.errors import TapqError
from tapq.quant.quantizers import (act_qparams, act_range, check_bits, fake_quant_act,
                                   fake_quant_weight, weight_scale)


def _weight(seed=0):
    return torch.randn(16, 8, 3, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("clipping", ["mse", "minmax"])
def test_weight_error_shrinks_monotonically_with_bits(clipping):
    w = _weight()
    errors = [(fake_quant_weight(w, weight_scale(w, b, clipping), b) - w).pow(2).mean().item()
              for b in range(2, 9)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-4 * w.pow(2).mean().item()  # 8 bits: ~(3 sigma / 127)^2 / 12


def test_activation_error_shrinks_monotonically_with_bits():
    x = torch.randn(4096, generator=torch.Generator().manual_seed(1)).relu()
    errors = []
    for b in range(2, 9):
        low, high = act_range(x, b, "mse")
        errors.append((fake_quant_act(x, *act_qparams(low, high, b), b) - x).pow(2).mean().item())
    assert all(a > b for a, b in zip(errors, errors[1:])), errors


def test_scales_are_per_output_channel():
    w = _weight()
    w[3] *= 10.0
    base = weight_scale(_weight(), 4, "minmax")
    scaled = weight_scale(w, 4, "minmax")
    assert scaled.shape == (16,)
    assert torch.allclose(scaled[3], 10 * base[3])
    others = [i for i in range(16) if i != 3]
    assert torch.equal(scaled[others], base[others])
    # each channel really is quantized on its own grid: values are integer multiples of it
    q = fake_quant_weight(w, scaled, 4)
    levels = q.flatten(1) / scaled[:, None]
    assert torch.allclose(levels, levels.round(), atol=1e-4)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_weight_grid_is_symmetric_narrow_range(bits):
    w = _weight()
    scale = weight_scale(w, bits, "minmax")
    levels = (fake_quant_weight(w, scale, bits).flatten(1) / scale[:, None]).round()
    qmax = 2 ** (bits - 1) - 1
    assert levels.max() == qmax and levels.min() == -qmax
    assert len(levels[0].unique()) <= 2 * qmax + 1


def test_depthwise_and_linear_weights_get_one_scale_per_output():
    assert weight_scale(torch.randn(32, 1, 3, 3), 4).shape == (32,)
    assert weight_scale(torch.randn(10, 64), 4).shape == (10,)


def test_mse_clipping_beats_minmax_at_low_bits():
    w = _weight()
    w[0, 0, 0, 0] = 20.0  # one outlier would waste the grid of channel 0
    errors = {c: (fake_quant_weight(w, weight_scale(w, 3, c), 3) - w).pow(2).sum().item()
              for c in ("mse", "minmax")}
    assert errors["mse"] < errors["minmax"]


def test_activation_grid_is_asymmetric_with_integer_zero_point():
    x = torch.linspace(-1.0, 3.0, 10001)
    scale, zero = act_qparams(-1.0, 3.0, 4)
    q = fake_quant_act(x, scale, zero, 4)
    assert len(q.unique()) == 16
    assert isinstance(zero, int) and 0 <= zero <= 15
    assert q.min().item() == pytest.approx(-1.0, abs=scale) and 0.0 in q.tolist()


def test_inference_path_matches_fused_training_op():
    x = torch.randn(2, 16, 7, 7, generator=torch.Generator().manual_seed(3)) * 3
    scale, zero = act_qparams(x.min().item(), x.max().item(), 6)
    fast = fake_quant_act(x, scale, zero, 6)
    fused = fake_quant_act(x.clone().requires_grad_(True), scale, zero, 6).detach()
    mismatched = (fast - fused).abs() > 1e-6
    # ties may round differently in float32, never by more than one level
    assert mismatched.float().mean() < 1e-3
    assert (fast - fused).abs().max() <= scale * 1.001


def test_activation_ranges_nest():
    x = torch.randn(100000, generator=torch.Generator().manual_seed(4)).relu()
    x[0] = 50.0  # an outlier
    minmax = act_range(x, 4, "minmax")
    percentile = act_range(x, 4, "percentile", 99.9)
    mse = act_range(x, 4, "mse")
    assert minmax == (0.0, 50.0)
    assert percentile[1] < 10 and mse[1] < 50.0


@pytest.mark.parametrize("bits", [0, 1, 9, 16, -3])
def test_unsupported_bits_raise(bits):
    with pytest.raises(TapqError, match="not supported"):
        check_bits(bits)


def test_full_precision_is_identity():
    w = _weight()
    assert torch.equal(fake_quant_weight(w, torch.ones(16), 32), w)
    assert torch.equal(fake_quant_act(w, 1.0, 0, 32), w)


def test_inference_on_cpu_is_the_in_place_path_bit_for_bit():
    """What QuantLayer runs on the CPU is exactly the in-place reference (results stay
    bit-identical); forcing the fused implementation gives exactly the fused op."""
    from tapq.quant import quantizers

    x = torch.randn(4, 8, 9, 9, generator=torch.Generator().manual_seed(5)) * 2
    scale, zero = act_qparams(x.min().item(), x.max().item(), 8)
    reference = (x * (1.0 / scale)).round().add(zero).clamp(0, 255).sub(zero).mul(scale)
    assert quantizers.act_inference_impl(x.device) == "inplace"
    with torch.inference_mode():
        assert torch.equal(fake_quant_act(x, scale, zero, 8), reference)
    fused = torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)
    try:
        quantizers.ACT_INFERENCE_IMPL["cpu"] = "fused"
        with torch.inference_mode():
            assert torch.equal(fake_quant_act(x, scale, zero, 8), fused)
    finally:
        quantizers.ACT_INFERENCE_IMPL["cpu"] = "inplace"
