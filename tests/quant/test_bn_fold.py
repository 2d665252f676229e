import warnings

import torch
from torch import nn

from conftest import randomize_batchnorm
from tapq.models.nets import MnistResNet
from tapq.quant import fold_batchnorm, find_quantizable_layers


def test_folding_leaves_full_precision_outputs_unchanged():
    torch.manual_seed(0)
    model = randomize_batchnorm(MnistResNet())
    x = torch.randn(8, 1, 28, 28)
    folded, report = fold_batchnorm(model)
    assert len(report.pairs) == 11 and not report.left  # every conv; the Linear has no BN
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), atol=1e-4, rtol=1e-4)


def test_folding_does_not_touch_the_users_model():
    model = randomize_batchnorm(MnistResNet())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fold_batchnorm(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


class _LinearBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 6, 3, bias=True)
        self.bn1 = nn.BatchNorm1d(6)
        self.fc = nn.Linear(6 * 6, 5)
        self.bn2 = nn.BatchNorm1d(5)

    def forward(self, x):
        return self.bn2(self.fc(torch.relu(self.bn1(self.conv(x))).flatten(1)))


def test_folds_conv1d_with_bias_and_linear():
    model = randomize_batchnorm(_LinearBn())
    x = torch.randn(4, 3, 8)
    folded, report = fold_batchnorm(model)
    assert report.pairs == (("conv", "bn1"), ("fc", "bn2"))
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), atol=1e-5)


class _SharedOutput(nn.Module):
    """The conv output feeds both the BN and a residual: folding would be wrong."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


def test_does_not_fold_when_conv_output_is_also_read_elsewhere():
    model = randomize_batchnorm(_SharedOutput())
    folded, report = fold_batchnorm(model)
    assert report.pairs == () and report.left == (("bn", "the output of conv is also read by "
                                                   "operation add"),)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x))


class _Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, hooks must find the pair."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return y if y.sum() > -1e9 else -y


def test_untraceable_model_is_folded_through_hooks():
    model = randomize_batchnorm(_Untraceable())
    x = torch.randn(2, 1, 6, 6)
    folded, report = fold_batchnorm(model, example=x[:1])
    assert report.pairs == (("conv", "bn"),) and report.method == "forward pass"
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), atol=1e-5)
    assert [i.name for i in find_quantizable_layers(folded)] == ["conv"]


def test_folding_a_transformer_is_a_traced_no_op():
    from tapq.models.nets import DigitsViT

    torch.manual_seed(0)
    model = DigitsViT().eval()
    x = torch.randn(4, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # traced by FX: no "not FX-traceable" fallback
        folded, report = fold_batchnorm(model)
    assert report.pairs == () and report.total == 0
    for (name, a), (_, b) in zip(model.state_dict().items(), folded.state_dict().items()):
        assert torch.equal(a, b), name
    with torch.no_grad():
        assert torch.equal(model(x), folded(x))
