"""PTQ on the embedded default: the accuracy claims the whole project rests on."""
import pytest
import torch

from tapq.evaluate import evaluate
from tapq.quant import AdaRoundConfig, BitConfig, PTQEngine, PTQSettings, quantize, uniform_config


@pytest.fixture(scope="module")
def rtn(mnist_model, mnist):
    return PTQEngine(mnist_model, mnist.calib)


def _acc(engine, config, mnist):
    return evaluate(engine.quantize(config), mnist.eval).accuracy


def test_w8a8_stays_within_half_a_point_of_full_precision(rtn, mnist_model, mnist):
    fp = evaluate(mnist_model, mnist.eval).accuracy
    assert fp > 0.96
    assert abs(_acc(rtn, uniform_config(rtn.layer_names, 8, 8), mnist) - fp) <= 0.005


def test_all_2_bit_loses_clearly_more_than_mixed_4_bit(rtn, mnist):
    names = rtn.layer_names
    # a mixed configuration averaging about 4 bits: 3, 4 and 6 bits in turn
    mixed = BitConfig(w={n: (3, 4, 6)[i % 3] for i, n in enumerate(names)},
                      a=dict.fromkeys(names, 8))
    mixed_acc = _acc(rtn, mixed, mnist)
    two_bit_acc = _acc(rtn, uniform_config(names, 2, 8), mnist)
    assert mixed_acc > 0.9
    assert mixed_acc - two_bit_acc > 0.2


def test_accuracy_falls_with_bits(rtn, mnist):
    accs = [_acc(rtn, uniform_config(rtn.layer_names, b, 8), mnist) for b in (8, 4, 3, 2)]
    assert accs == sorted(accs, reverse=True)


@pytest.mark.slow
def test_adaround_is_at_least_as_accurate_as_rtn_at_3_bits(rtn, mnist_model, mnist):
    adaround = PTQEngine(mnist_model, mnist.calib, PTQSettings(weight_rounding="adaround"))
    config = uniform_config(rtn.layer_names, 3, 8)
    assert _acc(adaround, config, mnist) >= _acc(rtn, config, mnist)


def test_engine_caches_per_layer_and_is_not_changed_by_quantizing(rtn, mnist):
    config = uniform_config(rtn.layer_names, 4, 8)
    first = rtn.quantize(config)
    second = rtn.quantize(uniform_config(rtn.layer_names, 3, 6))
    third = rtn.quantize(config)
    x = mnist.eval.x[:64]
    with torch.no_grad():
        assert torch.equal(first(x), third(x))
        assert not torch.equal(first(x), second(x))


def test_calibration_seed_changes_the_calibration_sample(mnist_model, mnist):
    a = PTQEngine(mnist_model, mnist.calib, PTQSettings(calib_size=64, calib_seed=0))
    b = PTQEngine(mnist_model, mnist.calib, PTQSettings(calib_size=64, calib_seed=1))
    assert len(a.calib_x) == 64 and not torch.equal(a.calib_x, b.calib_x)


def test_one_shot_quantize_on_digits(digits_model, digits):
    names = [n for n, _ in digits_model.named_modules() if n in ("conv1.0", "fc")]
    quantized = quantize(digits_model, BitConfig(w=dict.fromkeys(names, 4)), digits.calib)
    assert evaluate(quantized, digits.eval).accuracy > 0.9


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse"])
def test_activation_clipping_methods_all_work_at_8_bits(mnist_model, mnist, method):
    engine = PTQEngine(mnist_model, mnist.calib, PTQSettings(act_clipping=method))
    assert _acc(engine, uniform_config(engine.layer_names, 32, 8), mnist) > 0.97


def test_transformer_w8a8_keeps_accuracy_and_w2_adaround_beats_rtn(digits):
    # Activation ranges of the token Linears (inputs (batch, 17, 32)) are calibrated
    # from every token, so 8 bits cost at most two of the 597 images.
    from tapq.models import load_model

    vit = load_model("digits-vit")
    fp = evaluate(vit, digits.eval).accuracy
    rtn = PTQEngine(vit, digits.calib, PTQSettings(calib_size=128))
    names = rtn.layer_names
    assert evaluate(rtn.quantize(uniform_config(names, 8, 8)), digits.eval).accuracy \
        >= fp - 2 / len(digits.eval)
    adaround = PTQEngine(vit, digits.calib, PTQSettings(
        "adaround", calib_size=128, adaround=AdaRoundConfig(iters=200)))
    config = uniform_config(names, 2, 8)
    assert evaluate(adaround.quantize(config), digits.eval).accuracy \
        > evaluate(rtn.quantize(config), digits.eval).accuracy + 0.1
