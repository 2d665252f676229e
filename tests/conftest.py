"""Shared fixtures: the built-in models and data are loaded once per test session."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tapq.bench import BenchSpec, build_bench
from tapq.data import load_data
from tapq.models import load_model
from tapq.progress import set_quiet

set_quiet(True)


@pytest.fixture(scope="session")
def mnist():
    return load_data("mnist")


@pytest.fixture(scope="session")
def mnist_model():
    return load_model("mnist-cnn")


@pytest.fixture(scope="session")
def digits():
    return load_data("digits")


@pytest.fixture(scope="session")
def digits_model():
    return load_model("digits-cnn")


# A real, small ground truth of the digits model (RTN, 240 configurations, ~96 on the
# search split): proxy scoring and multi-benchmark discovery are tested on it.
DIGITS_BENCH_SPEC = BenchSpec(model="digits-cnn", configs=240, ptq="rtn", repeat=0,
                              bits=(2, 3, 4, 8), calib_size=64)


@pytest.fixture(scope="session")
def digits_bench(tmp_path_factory):
    """The digits benchmark above, built once per test session."""
    path = tmp_path_factory.mktemp("digits-bench") / "digits.db"
    build_bench(DIGITS_BENCH_SPEC, path).close()
    return path


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics, so folding is really exercised."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator))
    return model.eval()


class AttentionNet(nn.Module):
    """Linear embedding -> nn.MultiheadAttention -> Linear head, on (batch, tokens, 4):
    the attention's own projections are computed functionally, never as layers."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        tokens = self.embed(x)
        return self.head(self.attn(tokens, tokens, tokens, need_weights=False)[0].mean(1))
