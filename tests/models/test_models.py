import pytest
import torch

from tapq.errors import TapqError
from tapq.evaluate import evaluate
from tapq.models import BUILTIN_MODELS, load_model
from tapq.models.registry import SHIPPED_WEIGHTS
from tapq.models.train import train_from_seed
from tapq.quant import find_quantizable_layers


def test_shipped_default_reproduces_its_recorded_accuracy(mnist_model, mnist):
    record = torch.load(SHIPPED_WEIGHTS / "mnist_cnn.pt", weights_only=True)["record"]
    accuracy = evaluate(mnist_model, mnist.eval).accuracy
    assert accuracy == pytest.approx(record["eval_accuracy"], abs=1e-6)
    assert accuracy > 0.97


def test_default_has_depthwise_and_linear_layers(mnist_model):
    kinds = [i.kind for i in find_quantizable_layers(mnist_model)]
    assert len(kinds) == 12 and kinds.count("depthwise") == 2 and kinds[-1] == "linear"


def test_training_from_the_seed_is_deterministic_and_accurate(digits):
    spec = BUILTIN_MODELS["digits-cnn"]
    (first, record), (second, again) = (train_from_seed(spec.factory, digits, spec.train)
                                        for _ in range(2))
    models, records = (first, second), (record, again)
    assert records[0]["eval_accuracy"] == records[1]["eval_accuracy"] > 0.97
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()):
        assert torch.equal(a, b)



def test_shipped_vit_reproduces_its_accuracy_and_quantizes_every_projection(digits):
    record = torch.load(SHIPPED_WEIGHTS / "digits_vit.pt", weights_only=True)["record"]
    model = load_model("digits-vit")
    accuracy = evaluate(model, digits.eval).accuracy
    assert accuracy == pytest.approx(record["eval_accuracy"], abs=1e-6)
    assert accuracy > 0.95
    layers = {i.name: i.kind for i in find_quantizable_layers(model)}
    # q/k/v and the output projection are nn.Linear, so PTQ really replaces them
    for block in (0, 1):
        assert layers[f"blocks.{block}.attn.qkv"] == layers[f"blocks.{block}.attn.proj"] \
            == "linear"
    assert len(layers) == 10 and layers["patch_embed"] == "conv"
    assert not any(isinstance(m, torch.nn.MultiheadAttention) for m in model.modules())

USER_MODEL = """
import torch.nn as nn
def build():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
"""


def test_user_model_from_file_with_weights(tmp_path):
    (tmp_path / "net.py").write_text(USER_MODEL)
    spec = f"{tmp_path / 'net.py'}:build"
    reference = load_model(spec)
    torch.save(reference.state_dict(), tmp_path / "w.pt")
    loaded = load_model(spec, str(tmp_path / "w.pt"))
    assert torch.equal(loaded[1].weight, reference[1].weight)
    assert not loaded.training


def test_user_model_from_module_path():
    model = load_model("tapq.models.nets:DigitsCNN")
    assert len(find_quantizable_layers(model)) == 5


@pytest.mark.parametrize("spec, weights, message", [
    ("nope", None, "unknown model spec"),
    ("no_such_pkg.mod:f", None, "cannot import"),
    ("tapq.models.nets:missing", None, "no callable"),
    ("mnist-cnn", "/nonexistent.pt", "weights file not found"),
])
def test_bad_specs_raise_clear_errors(spec, weights, message):
    with pytest.raises(TapqError, match=message):
        load_model(spec, weights)


def test_weights_that_do_not_fit(tmp_path):
    torch.save(load_model("digits-cnn").state_dict(), tmp_path / "digits.pt")
    with pytest.raises(TapqError, match="do not fit"):
        load_model("mnist-cnn", str(tmp_path / "digits.pt"))


def test_a_pickled_whole_model_loads_only_when_trusted(tmp_path, monkeypatch):
    """Unpickling Python objects can run any code: refused unless TAPQ_TRUST_WEIGHTS=1."""
    whole = load_model("digits-cnn")
    torch.save(whole, tmp_path / "whole.pt")
    monkeypatch.delenv("TAPQ_TRUST_WEIGHTS", raising=False)
    with pytest.raises(TapqError, match="pickled Python objects.*TAPQ_TRUST_WEIGHTS=1"):
        load_model("digits-cnn", str(tmp_path / "whole.pt"))
    monkeypatch.setenv("TAPQ_TRUST_WEIGHTS", "1")
    loaded = load_model("digits-cnn", str(tmp_path / "whole.pt"))
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                 whole.state_dict().values()))
