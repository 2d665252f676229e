"""Models as they come: conv subclasses with their own forward, TF "SAME" padding, a
forward FX cannot trace -- through BN folding, PTQ, statistics and the command line."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ported_models import circular_net, same_padding_net, untraceable_net

import tapq
from tapq.proxies import collect_stats
from tapq.quant import (
    PTQEngine,
    PTQSettings,
    describe_layers,
    fold_batchnorm,
    uniform_config,
)

MODELS = {"same_padding_net": same_padding_net, "circular_net": circular_net,
          "untraceable_net": untraceable_net}
EXPECTED_FOLDS = {
    "same_padding_net": ("graph", (("stem", "bn0"), ("conv", "bn1"))),
    "circular_net": ("graph", (("stem", "bn0"), ("dw", "bn1"))),
    "untraceable_net": ("forward pass", (("stem", "bn0"), ("dw", "bn1"), ("project", "bn2"),
                                         ("head", "bn3"))),
}
SPEC_FILE = Path(__file__).parents[1] / "ported_models.py"
FAST = PTQSettings(calib_size=64, act_samples=4096)  # what is tested is the forward path


@pytest.mark.parametrize("name", MODELS)
def test_every_batchnorm_is_folded_and_the_output_kept(name, mnist):
    model = MODELS[name]()
    x = mnist.calib.x[:8]
    folded, report = fold_batchnorm(model, x[:1])
    method, pairs = EXPECTED_FOLDS[name]
    assert (report.method, report.pairs, report.left) == (method, pairs, ())
    assert report.checked
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), atol=1e-5, rtol=1e-4)


def test_folding_an_untraceable_model_is_deterministic(mnist):
    model = untraceable_net()
    x = mnist.calib.x[:1]
    runs = [fold_batchnorm(model, x) for _ in range(6)]
    assert len({report for _, report in runs}) == 1
    first = runs[0][0].state_dict()
    for folded, _ in runs[1:]:
        assert all(torch.equal(first[k], v) for k, v in folded.state_dict().items())


@pytest.mark.parametrize("name", MODELS)
def test_ptq_runs_the_layers_own_forward(name, mnist):
    model = MODELS[name]()
    engine = PTQEngine(model, mnist.calib, FAST, device="cpu")
    x = mnist.eval.x[:64]
    with torch.no_grad():
        reference = model(x)
        unquantized = engine.quantize(uniform_config(engine.layer_names, 32, 32))(x)
        w8a8 = engine.quantize(uniform_config(engine.layer_names, 8, 8))(x)
    assert unquantized.shape == reference.shape == w8a8.shape
    assert torch.allclose(unquantized, reference, atol=1e-4, rtol=1e-4)
    relative = (w8a8 - reference).norm() / reference.norm()
    assert 0 < relative < 0.1  # quantized, and still the same network


def test_quantized_models_save_and_load_with_their_folding(mnist, tmp_path):
    model = untraceable_net()
    engine = tapq.PTQEngine(model, mnist.calib, FAST)
    config = uniform_config(engine.layer_names, 6, 8)
    quantized = engine.quantize(config)
    tapq.save_quantized(quantized, config, tmp_path / "q.pt")
    reloaded, _ = tapq.load_quantized(tmp_path / "q.pt", untraceable_net())
    x = mnist.eval.x[:16]
    with torch.no_grad():
        assert torch.equal(quantized(x), reloaded(x))


@pytest.mark.parametrize("name", MODELS)
def test_statistics_of_every_layer(name, mnist):
    model = MODELS[name]()
    stats = collect_stats(model, mnist.calib.x[:8], mnist.calib.y[:8], hutchinson_samples=1,
                          power_iters=2)
    layers = describe_layers(model, mnist.calib.x[:1]).layers
    assert [s.name for s in stats] == [layer.name for layer in layers]
    for s in stats:
        assert s.weight.shape == s.grad.shape == s.fisher.shape
        assert torch.isfinite(torch.tensor(s.hessian_trace)) and s.grad.abs().sum() > 0


def _tapq(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tapq.cli", *args], check=False,
                          capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_command_line_end_to_end_on_an_untraceable_model(tmp_path):
    spec = f"{SPEC_FILE}:untraceable_net"
    layers = _tapq("layers", "--model", spec, "--data", "mnist", cwd=tmp_path)
    assert layers.returncode == 0, layers.stderr
    assert "BatchNorm: 4 of 4 folded (forward pass)" in layers.stdout
    listed = json.loads(_tapq("layers", "--model", spec, "--data", "mnist", "--json",
                              cwd=tmp_path).stdout)
    assert [layer["batchnorm"] for layer in listed] == ["bn0", "bn1", "bn2", "bn3", None]
    quantized = _tapq("quantize", "--model", spec, "--data", "mnist", "--bits", "8", "--json",
                      cwd=tmp_path)
    assert quantized.returncode == 0, quantized.stderr
    assert "Traceback" not in quantized.stderr and "warning" not in quantized.stderr
    report = json.loads(quantized.stdout)
    assert abs(report["q_acc"] - report["fp_acc"]) < 0.05
    bench = tmp_path / "ported.db"
    built = _tapq("bench", "build", "--model", spec, "--data", "mnist", "--out", str(bench),
                  "--configs", "12", "--repeat", "4", "--ptq", "rtn", "--calib-size", "64",
                  cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    scored = _tapq("proxy", "eval", "--bench", str(bench), "--proxy", "fisher", "--json",
                   cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    (result,) = json.loads(scored.stdout)
    assert result["proxy"] == "fisher" and not result.get("error")
