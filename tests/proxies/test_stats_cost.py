"""What statistics cost: settings by model size, a choice of statistics, joint Hutchinson
probes against exact Hessian blocks, and chunked passes equal to one pass."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tapq.errors import TapqError
from tapq.proxies import (ALL_STATISTICS, StatsConfig, collect_stats, parse_statistics,
                          parse_stats_option)
from tapq.proxies import stats_passes


def _two_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).eval()
    x, y = torch.randn(40, 3), torch.randint(0, 3, (40,))
    return model, x, y


def _exact_block_traces(model, x, y):
    w1, w2 = (model[i].weight.detach() for i in (0, 2))

    def loss(a, b):
        h = torch.tanh(nn.functional.linear(x, a, model[0].bias))
        return nn.functional.cross_entropy(nn.functional.linear(h, b, model[2].bias), y)
    (h11, _), (_, h22) = torch.autograd.functional.hessian(loss, (w1, w2))
    return [torch.trace(h.reshape(w.numel(), w.numel())).item()
            for h, w in ((h11, w1), (h22, w2))]


def test_joint_probes_estimate_each_layers_block_trace_within_their_error():
    model, x, y = _two_layers()
    exact = _exact_block_traces(model, x, y)
    stats = collect_stats(model, x, y, hutchinson_samples=3000, statistics=("hessian_trace",))
    for layer, truth in zip(stats, exact):
        assert layer.hessian_trace == pytest.approx(truth, abs=4 * layer.hessian_trace_se)
        assert 0 < layer.hessian_trace_se < 0.2 * abs(truth)


def test_chunked_passes_give_what_one_pass_gives(digits_model, digits, monkeypatch):
    x, y = digits.calib.x[:24], digits.calib.y[:24]
    options = {"hutchinson_samples": 3, "power_iters": 4}
    whole = collect_stats(digits_model, x, y, **options)
    monkeypatch.setattr(stats_passes, "_GRAPH_BUDGET", 1)  # one example per chunk
    assert stats_passes.chunk_size(digits_model, x) == 1
    chunked = collect_stats(digits_model, x, y, **options)
    for a, b in zip(whole, chunked):
        assert a.hessian_trace == pytest.approx(b.hessian_trace, rel=1e-4, abs=1e-6)
        assert a.hessian_eig == pytest.approx(b.hessian_eig, rel=1e-3, abs=1e-6)
        for field in ("grad", "fisher", "act_in", "act_out"):
            torch.testing.assert_close(getattr(a, field), getattr(b, field),
                                       rtol=1e-4, atol=1e-6)


def test_only_the_chosen_statistics_are_computed_the_rest_are_nan(digits_model, digits):
    x, y = digits.calib.x[:16], digits.calib.y[:16]
    full = collect_stats(digits_model, x, y, hutchinson_samples=2, power_iters=2)
    some = collect_stats(digits_model, x, y, hutchinson_samples=2, power_iters=2,
                         statistics=("grad", "hessian_trace"))
    for a, b in zip(full, some):
        assert torch.equal(a.grad, b.grad) and a.hessian_trace == b.hessian_trace
        assert math.isnan(b.hessian_eig) and torch.isnan(b.fisher).all()
        assert torch.isnan(b.synflow).all() and b.act_in.shape[0] == 0
        assert b.act_in.shape[1] == a.act_in.shape[1]
    with pytest.raises(TapqError, match="unknown statistics"):
        collect_stats(digits_model, x, y, statistics=("hessian",))


def test_defaults_depend_on_model_size():
    small, large = StatsConfig().resolved(10_000), StatsConfig().resolved(5_000_000)
    assert (small.n, small.hutchinson_probes, small.power_iters) == (128, 16, 20)
    # per-cell statistics (AdaRound weights, one evaluation per layer x bits) are opt-in
    assert small.skipped() == ("ptq", "delta_loss")
    assert StatsConfig(statistics=ALL_STATISTICS).resolved(10_000).skipped() == ()
    assert large.n < small.n and large.hutchinson_probes < small.hutchinson_probes
    assert large.skipped() == ("hessian_eig", "ptq", "delta_loss")  # cost grows per cell
    asked = StatsConfig(statistics=("hessian_eig",)).resolved(5_000_000)
    assert asked.power_iters > 0 and asked.statistics == ("hessian_eig",)
    assert StatsConfig(n=7).resolved(5_000_000).n == 7


def test_statistics_are_named_in_one_flag():
    assert parse_statistics("all") == ALL_STATISTICS
    assert parse_statistics("grad, fisher,grad") == ("grad", "fisher")
    assert parse_statistics(None) is None
    with pytest.raises(TapqError, match="unknown statistic hessian"):
        parse_statistics("grad,hessian")


def test_plus_names_add_opt_in_statistics_to_the_defaults():
    statistics, extra = parse_stats_option("+delta_loss")
    assert statistics is None and extra == ("delta_loss",)
    for params in (10_000, 5_000_000):
        added = StatsConfig(extra=extra).resolved(params)
        default = StatsConfig().resolved(params)
        assert set(added.statistics) == {*default.statistics, "delta_loss"}
        assert added.skipped() == tuple(s for s in default.skipped() if s != "delta_loss")
    # the same set is the same configuration (one cache key), however it was named
    named = StatsConfig(statistics=("fisher", "grad", "delta_loss")).resolved(10_000)
    assert named.statistics == ("grad", "fisher", "delta_loss")
    assert parse_stats_option("fisher,grad") == (("fisher", "grad"), ())
    with pytest.raises(TapqError, match="unknown statistic hessian"):
        parse_stats_option("+hessian")


def test_the_stats_help_names_every_statistic():
    from tapq.cli.common import STATS_HELP

    listed = STATS_HELP.split("(", 1)[1].split(")", 1)[0]
    assert tuple(n.strip() for n in listed.split(",")) == ALL_STATISTICS
