"""AdaRound on a Linear applied to tokens (batch, tokens, features), as in transformers."""
import torch
from torch import nn

from tapq.quant.adaround import AdaRoundConfig, adaround_weight
from tapq.quant.quantizers import fake_quant_weight, weight_scale

FAST = AdaRoundConfig(iters=200)


def _token_layer(seed=0, tokens=17, features=16, out=24):
    """A Linear and correlated, offset inputs (like post-LayerNorm tokens), its outputs."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layer = nn.Linear(features, out)
    mix = torch.randn(features, features, generator=generator) \
        * torch.logspace(0, -1.5, features)[:, None]
    x = torch.randn(64, tokens, features, generator=generator) @ mix + 0.5
    with torch.no_grad():
        y = layer(x)
    return layer, x, y


def test_a_token_linear_is_rounded_exactly_like_the_equivalent_1x1_conv():
    # Every token is one position: the Linear is a 1x1 Conv1d over (batch, features,
    # tokens), and the reconstruction must weigh its errors the same way.
    layer, x, y = _token_layer()
    conv = nn.Conv1d(16, 24, 1)
    with torch.no_grad():
        conv.weight.copy_(layer.weight[:, :, None])
        conv.bias.copy_(layer.bias)
    scale = weight_scale(layer.weight.detach(), 3, "mse")
    linear_w = adaround_weight(layer, layer.weight.detach(), scale, 3, x, y, FAST)
    conv_w = adaround_weight(conv, conv.weight.detach(), scale, 3, x.transpose(1, 2),
                             y.transpose(1, 2), FAST)
    torch.testing.assert_close(linear_w, conv_w[:, :, 0])


def test_adaround_on_a_token_linear_reduces_output_error_against_rtn():
    layer, x, y = _token_layer(seed=1)
    weight = layer.weight.detach()
    for bits in (2, 3):
        scale = weight_scale(weight, bits, "mse")
        rtn = fake_quant_weight(weight, scale, bits)
        learned = adaround_weight(layer, weight, scale, bits, x, y, AdaRoundConfig())
        with torch.no_grad():
            error = {name: (nn.functional.linear(x, w, layer.bias) - y).pow(2).mean()
                     for name, w in (("rtn", rtn), ("adaround", learned))}
        assert error["adaround"] < 0.8 * error["rtn"]
        levels = (learned / scale[:, None]).round()  # still on the RTN grid, within range
        torch.testing.assert_close(learned, levels * scale[:, None])
        assert levels.abs().max() <= 2 ** (bits - 1) - 1
