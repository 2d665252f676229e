"""``--model torchvision:NAME``, and the warning for unquantizable attention modules.

torchvision cannot be installed next to torch 2.13.0, so the not-installed path is tested
for real (or, where torchvision is installed, by hiding it), and the installed path
against a stand-in package (tests/torchvision_standin.py) put on sys.path, which exposes
``torchvision.models.get_model`` and ``list_models`` as the real one does.
"""
import importlib.util
import logging
import sys

import pytest
import torch
from torchvision_standin import write_standin

from tapq.errors import TapqError
from tapq.models import check_fits, load_model, registry
from tapq.quant import find_quantizable_layers


def _forget_torchvision():
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """The stand-in torchvision importable for one test, and gone afterwards."""
    _forget_torchvision()
    monkeypatch.syspath_prepend(str(write_standin(tmp_path)))
    yield
    _forget_torchvision()


def test_missing_torchvision_is_one_line_saying_how_to_install(monkeypatch):
    if importlib.util.find_spec("torchvision") is not None:  # installed: hide it
        monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(TapqError, match="needs torchvision, which is not installed: "
                                        "pip install torchvision") as error:
        load_model("torchvision:resnet18")
    assert "\n" not in str(error.value)


def test_torchvision_model_is_built_and_takes_weights(standin, digits, tmp_path, caplog,
                                                     monkeypatch):
    monkeypatch.setattr(registry, "_warned", set())  # warned once per process and spec
    with caplog.at_level("WARNING"):
        model = load_model("torchvision:tiny_cnn")
    assert "torchvision:tiny_cnn has random weights" in caplog.text
    assert not model.training
    check_fits(model, digits, "torchvision:tiny_cnn")
    assert [i.kind for i in find_quantizable_layers(model)] == ["conv", "linear"]
    torch.save(model.state_dict(), tmp_path / "w.pt")
    caplog.clear()
    with caplog.at_level("WARNING"):
        again = load_model("torchvision:tiny_cnn", str(tmp_path / "w.pt"))
    assert "random weights" not in caplog.text
    assert torch.equal(again[0].weight, model[0].weight)


@pytest.mark.parametrize("spec, weights, message", [
    ("torchvision:resnet9000", None, "torchvision has no model 'resnet9000'; see "
                                     "torchvision.models.list_models()"),
    ("torchvision:tiny_cnn:DEFAULT", None, "cannot get torchvision's pretrained weights for "
                                           "'tiny_cnn' \\(offline\\?"),
    ("torchvision:tiny_cnn:IMAGENET1K_V1", None, "use 'torchvision:NAME' or"),
    ("torchvision:", None, "use 'torchvision:NAME' or"),
    ("torchvision:tiny_cnn:DEFAULT", "w.pt", "drop one of them"),
])
def test_bad_torchvision_specs_are_one_line_errors(standin, spec, weights, message):
    with pytest.raises(TapqError, match=message) as error:
        load_model(spec, weights)
    assert "\n" not in str(error.value)


def test_multihead_attention_is_named_in_one_warning_per_model(standin, caplog):
    with caplog.at_level(logging.WARNING, logger="tapq"):
        model = load_model("torchvision:tiny_vit")
        layers = find_quantizable_layers(model)
        find_quantizable_layers(load_model("torchvision:tiny_vit"))  # again: no second warning
        find_quantizable_layers(load_model("torchvision:tiny_cnn"))  # nothing to warn about
    warnings = [r.getMessage() for r in caplog.records if "random weights" not in r.getMessage()]
    assert len(warnings) == 1
    assert "nn.MultiheadAttention" in warnings[0] and warnings[0].endswith(": attn")
    assert [i.name for i in layers] == ["embed", "head"]
