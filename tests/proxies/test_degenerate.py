"""Statistics that carry no signal are named in a warning, not passed on silently."""
import logging

import torch
from ported_models import same_padding_net, untraceable_net
from torch import nn

from tapq.proxies import collect_stats
from tapq.proxies.degenerate import degenerate_statistics


def test_synflow_on_a_relu6_network_is_flagged_as_constant(mnist, caplog):
    x, y = mnist.calib.x[:8], mnist.calib.y[:8]
    with caplog.at_level(logging.WARNING):
        stats = collect_stats(untraceable_net(), x, y, hutchinson_samples=1, power_iters=1)
    # ReLU6 saturates on SynFlow's all-ones input: no gradient reaches the convolutions.
    assert [s.name for s in stats if not s.synflow.any()] == ["stem", "dw", "project", "head"]
    assert any("SynFlow is zero for 4 of 5 layers (stem, dw, project and 1 more)"
               in record.getMessage() for record in caplog.records)


def test_a_relu_network_has_no_degenerate_statistics(mnist):
    stats = collect_stats(same_padding_net(), mnist.calib.x[:8], mnist.calib.y[:8],
                          hutchinson_samples=1, power_iters=1)
    assert degenerate_statistics(stats) == []


class _DeadBranch(nn.Module):
    """`side` runs, but its output is multiplied by zero: the loss ignores it."""

    def __init__(self):
        super().__init__()
        self.main = nn.Linear(64, 10)
        self.side = nn.Linear(64, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.main(x) + 0 * self.side(x)


def test_a_zero_fisher_names_the_layer(digits):
    torch.manual_seed(0)
    stats = collect_stats(_DeadBranch(), digits.calib.x[:8], digits.calib.y[:8],
                          hutchinson_samples=1, power_iters=1)
    messages = degenerate_statistics(stats)
    assert any("Fisher information is zero for side" in m for m in messages), messages
    assert not any("main" in m for m in messages)
