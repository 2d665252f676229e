"""LayerStats: shapes, the curvature estimates against exact Hessians, determinism, cache."""
import copy
import math

import pytest
import torch
from torch import nn

from tapq.errors import TapqError
from tapq.models import model_hash
from tapq.proxies import collect_stats, collect_stats_cached
from tapq.proxies import stats as stats_module
from tapq.proxies import stats_cache
from tapq.quant import PTQEngine, find_quantizable_layers, fold_batchnorm, measure_costs
from tapq.quant.bit_config import uniform_config

from conftest import AttentionNet, randomize_batchnorm

FAST = {"hutchinson_samples": 2, "power_iters": 3}


@pytest.fixture(scope="module")
def batch(digits):
    return digits.calib.x[:64], digits.calib.y[:64]


@pytest.fixture(scope="module")
def digits_stats(digits_model, batch):
    return collect_stats(digits_model, *batch)


def _tiny_problem():
    """Linear(3, 2) + cross-entropy, small enough for exact Hessians."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2)).eval()
    x = torch.randn(32, 3)
    y = torch.randint(0, 2, (32,))
    return model, x, y


def _exact_hessian(model, x, y):
    def loss(weight):
        return nn.functional.cross_entropy(nn.functional.linear(x, weight, model[0].bias), y)
    weight = model[0].weight.detach()
    return torch.autograd.functional.hessian(loss, weight).reshape(weight.numel(), -1)


def test_every_layer_of_digits_cnn_has_stats_in_layer_order(digits_model, digits_stats, batch):
    infos = find_quantizable_layers(digits_model)
    assert [s.name for s in digits_stats] == [i.name for i in infos]
    assert [s.index for s in digits_stats] == list(range(len(infos)))
    assert {s.kind for s in digits_stats} == {"conv", "depthwise", "linear"}
    costs = measure_costs(digits_model, batch[0][:1])
    for layer in digits_stats:
        assert layer.num_params == layer.weight.numel() == costs.layers[layer.name].num_params
        assert layer.macs == costs.layers[layer.name].macs > 0


def test_tensor_fields_have_the_weight_shape_and_are_plain_cpu_float32(digits_stats):
    for layer in digits_stats:
        for tensor in (layer.weight, layer.grad, layer.fisher, layer.synflow,
                       layer.act_in, layer.act_out):
            assert tensor.dtype == torch.float32 and tensor.device.type == "cpu"
            assert tensor.is_contiguous() and not tensor.requires_grad
            assert torch.isfinite(tensor).all()
        for tensor in (layer.grad, layer.fisher, layer.synflow):
            assert tensor.shape == layer.weight.shape
        assert layer.hessian_trace_avg == pytest.approx(layer.hessian_trace / layer.num_params)


def test_weights_are_the_bn_folded_ones(digits_model, digits_stats, batch):
    model = randomize_batchnorm(copy.deepcopy(digits_model))
    folded, pairs = fold_batchnorm(model, batch[0][:1])
    assert pairs  # digits-cnn has BatchNorm to fold
    stats = collect_stats(model, *batch, **FAST)
    for layer in stats:
        assert torch.equal(layer.weight, folded.get_submodule(layer.name).weight.detach())


def test_activations_are_capped_samples_of_channel_rows(digits_model, digits_stats, batch):
    x, _ = batch
    for layer in digits_stats:
        assert layer.act_in.shape[0] <= 256 and layer.act_out.shape[0] <= 256
    conv1, fc = digits_stats[0], digits_stats[-1]
    assert conv1.act_in.shape == (256, 1) and conv1.act_out.shape == (256, 16)
    # the classifier sees 64 examples: all kept, in order, so its outputs are the logits
    assert fc.act_in.shape == (64, 32)
    torch.testing.assert_close(fc.act_out, digits_model(x).detach(), atol=1e-4, rtol=1e-4)
    # every conv row is one (example, position) of the real feature map, channels as columns
    folded, _ = fold_batchnorm(digits_model, x[:1])
    feature_map = folded.conv1(x).detach().movedim(1, -1).reshape(-1, 16)
    distances = torch.cdist(conv1.act_out, feature_map, compute_mode="donot_use_mm_for_euclid_dist")
    assert distances.min(1).values.max() < 1e-5
    small = collect_stats(digits_model, *batch, max_act_rows=10, **FAST)
    assert all(s.act_in.shape[0] == 10 and s.act_out.shape[0] == 10 for s in small)


def test_fisher_is_at_least_the_squared_mean_gradient(digits_stats):
    # mean of squares >= square of the mean (Jensen), equality only if examples agree
    for layer in digits_stats:
        assert (layer.fisher - layer.grad.pow(2)).min() > -1e-6
        assert layer.fisher.sum() > 1.5 * layer.grad.pow(2).sum()


def test_tiny_model_gradient_fisher_and_synflow_are_exact():
    model, x, y = _tiny_problem()
    (layer,) = collect_stats(model, x, y, **FAST)
    weight, bias = model[0].weight.detach().requires_grad_(True), model[0].bias
    loss = nn.functional.cross_entropy(nn.functional.linear(x, weight, bias), y)
    torch.testing.assert_close(layer.grad, torch.autograd.grad(loss, weight)[0])
    per_example = []
    for xi, yi in zip(x, y):
        loss = nn.functional.cross_entropy(nn.functional.linear(xi[None], weight, bias),
                                           yi[None])
        per_example.append(torch.autograd.grad(loss, weight)[0])
    torch.testing.assert_close(layer.fisher, torch.stack(per_example).pow(2).mean(0))
    # R = sum_j (sum_k |W_jk| + |b_j|) on an all-ones input, so dR/dW = 1: synflow = |W|
    torch.testing.assert_close(layer.synflow, weight.detach().abs())


def test_hutchinson_trace_matches_the_exact_hessian_trace():
    model, x, y = _tiny_problem()
    exact = torch.trace(_exact_hessian(model, x, y)).item()
    (layer,) = collect_stats(model, x, y, hutchinson_samples=2000, power_iters=1)
    assert layer.hessian_trace == pytest.approx(exact, rel=0.15)
    assert layer.hessian_trace_avg == pytest.approx(exact / 6, rel=0.15)


def test_power_iteration_finds_the_top_eigenvalue():
    model, x, y = _tiny_problem()
    top = torch.linalg.eigvalsh(_exact_hessian(model, x, y)).abs().max().item()
    (layer,) = collect_stats(model, x, y, hutchinson_samples=1, power_iters=200)
    assert layer.hessian_eig == pytest.approx(top, rel=0.01)


def test_same_seed_gives_identical_stats_and_another_seed_other_estimates(digits_model, batch):
    first = collect_stats(digits_model, *batch, seed=3, **FAST)
    again = collect_stats(digits_model, *batch, seed=3, **FAST)
    other = collect_stats(digits_model, *batch, seed=4, **FAST)
    assert first == again
    assert [s.hessian_trace for s in first] != [s.hessian_trace for s in other]
    assert not torch.equal(first[0].act_in, other[0].act_in)


def test_cache_returns_equal_stats_from_memory_and_from_disk(digits_model, batch, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path))
    monkeypatch.setattr(stats_cache, "_MEMORY", {})
    computed = collect_stats_cached(digits_model, *batch, **FAST)
    files = list((tmp_path / "stats").glob("*.pt"))
    assert len(files) == 1

    def fail(*args, **kwargs):
        raise AssertionError("statistics were recomputed")

    monkeypatch.setattr(stats_module, "collect_stats", fail)
    assert collect_stats_cached(digits_model, *batch, **FAST)[0] is computed[0]  # memory
    monkeypatch.setattr(stats_cache, "_MEMORY", {})
    loaded = collect_stats_cached(digits_model, *batch, **FAST)  # disk
    assert loaded == computed and loaded[0] is not computed[0]
    assert torch.equal(loaded[1].quant(3), computed[1].quant(3))
    # another batch is another key: it must be computed, not served from the cache
    with pytest.raises(AssertionError, match="recomputed"):
        collect_stats_cached(digits_model, batch[0][:32], batch[1][:32], **FAST)


def test_unreadable_cache_file_is_recomputed(digits_model, batch, tmp_path, monkeypatch):
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path))
    monkeypatch.setattr(stats_cache, "_MEMORY", {})
    key = stats_cache.stats_key(digits_model, *batch, **FAST)
    (tmp_path / "stats").mkdir()
    (tmp_path / "stats" / f"{key}.pt").write_bytes(b"not a torch file")
    stats = collect_stats_cached(digits_model, *batch, **FAST)
    assert [s.name for s in stats] == [i.name for i in find_quantizable_layers(digits_model)]
    monkeypatch.setattr(stats_cache, "_MEMORY", {})
    assert collect_stats_cached(digits_model, *batch, **FAST) == stats


def test_model_hash_follows_weights_and_architecture(digits_model):
    assert len(model_hash(digits_model)) == 16
    assert model_hash(digits_model) == model_hash(copy.deepcopy(digits_model))
    changed = copy.deepcopy(digits_model)
    with torch.no_grad():
        changed.fc.weight[0, 0] += 1e-3
    assert model_hash(changed) != model_hash(digits_model)
    plain = nn.Sequential(nn.Linear(3, 2))
    same_weights = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    same_weights.load_state_dict(plain.state_dict())
    assert model_hash(plain) != model_hash(same_weights)


def test_quant_is_ptq_round_to_nearest_and_its_error_shrinks_with_bits(digits_model, digits,
                                                                        digits_stats):
    engine = PTQEngine(digits_model, digits.calib)
    for layer in digits_stats:
        assert layer.quant(32) is layer.weight
        errors = [(layer.quant(b) - layer.weight).pow(2).sum().item() for b in (2, 3, 4, 6, 8)]
        assert errors == sorted(errors, reverse=True) and errors[-1] > 0
        for bits in (2, 4, 8):
            assert torch.equal(layer.quant(bits), engine.quantized_weight(layer.name, bits, 8))
        assert layer.quant(4) is layer.quant(4)  # cached
    with pytest.raises(TapqError):
        digits_stats[0].quant(1)


def test_a_quantized_model_is_refused(digits_model, digits, batch):
    engine = PTQEngine(digits_model, digits.calib)
    quantized = engine.quantize(uniform_config(engine.layer_names, 4, 8))
    with pytest.raises(TapqError, match="full-precision"):
        collect_stats(quantized, *batch, **FAST)


def test_token_linears_give_one_row_per_example_and_token(digits):
    from tapq.models import load_model

    vit = load_model("digits-vit")
    x, y = digits.calib.x[:8], digits.calib.y[:8]
    stats = {s.name: s for s in collect_stats(vit, x, y, max_act_rows=1000, **FAST)}
    qkv = stats["blocks.0.attn.qkv"]
    # 8 examples x 17 tokens, features as columns: every row is a real token's projection
    assert qkv.act_in.shape == (8 * 17, 32) and qkv.act_out.shape == (8 * 17, 96)
    captured = {}
    vit.blocks[0].attn.qkv.register_forward_hook(lambda m, i, o: captured.update(i=i[0], o=o))
    vit(x)
    torch.testing.assert_close(qkv.act_in, captured["i"].reshape(-1, 32))
    torch.testing.assert_close(qkv.act_out, captured["o"].detach().reshape(-1, 96))
    assert qkv.macs == 17 * 32 * 96 and stats["head"].act_in.shape == (8, 32)
    for s in stats.values():
        assert s.grad.abs().sum() > 0 and s.fisher.sum() > 0 and s.hessian_trace != 0


def test_stats_of_a_model_with_fused_attention_kernels():
    # nn.MultiheadAttention runs fused scaled-dot-product kernels that have no double
    # backward; the Hessian probes must still work (its own projections are not layers).
    torch.manual_seed(0)
    x, y = torch.randn(16, 5, 4), torch.randint(0, 3, (16,))
    stats = collect_stats(AttentionNet().eval(), x, y, **FAST)
    assert [s.name for s in stats] == ["embed", "head"]
    assert all(math.isfinite(s.hessian_trace) and s.hessian_trace != 0 for s in stats)
