"""Label-free data: image folders without class folders, factories giving inputs only (and
taking options), the built-in photos; each through quantize, statistics and proxy eval,
judged by agreement with and KL to the full-precision model."""
from __future__ import annotations

import math
import textwrap

import pytest
import torch

from tapq.bench import BenchSpec, build_bench
from tapq.data import load_data
from tapq.errors import TapqError
from tapq.evaluate import evaluate
from tapq.measure import Measurer
from tapq.models import load_model, load_model_and_data
from tapq.proxies import StatsConfig, collect_stats, evaluate_proxies
from tapq.quant import PTQSettings, uniform_config
from image_folders import draw, fresh_memo  # noqa: F401 (fixture)

MODEL = '''
import torch
from torch import nn


class SameConv(nn.Conv2d):
    """A conv subclass with its own forward (zero padding added by hand)."""

    def forward(self, x):
        return super().forward(nn.functional.pad(x, (1, 1, 1, 1)))


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(SameConv(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()


def images(n="24", side="16"):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(int(n), 3, int(side), int(side), generator=g)
    return {"calib": x[: int(n) // 2], "eval": x[int(n) // 2:]}
'''


@pytest.fixture
def user_code(tmp_path):
    path = tmp_path / "user.py"
    path.write_text(textwrap.dedent(MODEL))
    return path


@pytest.fixture
def unlabelled_folder(tmp_path, monkeypatch):
    """30 images directly in the folder: no class folders, so no labels."""
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(30):
        draw(("circle", "square", "triangle")[i % 3], i).save(root / f"{i:02d}.png")
    return root


def test_folder_without_class_folders_is_label_free_and_split_50_10_40(unlabelled_folder):
    data = load_data(f"imagefolder:{unlabelled_folder}?resize=16&crop=16")
    assert not data.labelled and data.num_classes is None
    assert (len(data.train), len(data.calib), len(data.eval)) == (15, 3, 12)
    assert data.eval.y is None and data.input_shape == (3, 16, 16)
    subset = load_data(f"imagefolder:{unlabelled_folder}?resize=16&crop=16&eval_n=5")
    assert len(subset.eval) == 5 and subset.eval.y is None


def test_label_free_folder_through_quantize_stats_and_proxy_eval(unlabelled_folder,
                                                                 user_code, tmp_path):
    spec, data_spec = f"{user_code}:tiny", f"imagefolder:{unlabelled_folder}?resize=16&crop=16"
    model, data = load_model_and_data(spec, data=data_spec)
    measurer = Measurer(model, data, PTQSettings(weight_rounding="rtn", calib_size=3))
    names = measurer.layer_names
    fp = measurer.measure(uniform_config(names, 32, 32))
    assert fp.target == "agreement" and fp.q_acc == fp.agreement == 1.0
    assert fp.kl == pytest.approx(0.0, abs=1e-6)
    low = measurer.measure(uniform_config(names, 2, 8))
    assert low.q_acc == low.agreement < 1.0 and low.kl > 0 and low.q_loss == low.kl
    stats = collect_stats(model, data.calib.x, None, hutchinson_samples=4, power_iters=3)
    assert [s.name for s in stats] == names
    for layer in stats:  # sampled labels give gradients; the KL gives curvature
        assert layer.grad.abs().sum() > 0 and layer.fisher.sum() > 0
        assert math.isfinite(layer.hessian_trace) and math.isfinite(layer.hessian_eig)
    out = tmp_path / "bench.db"
    build_bench(BenchSpec(model=spec, data=data_spec, configs=12, ptq="rtn", calib_size=3,
                          repeat=0, bits=(2, 4, 8), layer_sensitivity=False), out)
    results = {r.proxy: r for r in evaluate_proxies(out, ["size", "hawq_v2", "fisher"],
                                                    config=StatsConfig(hutchinson_probes=2))}
    assert all(not r.error and math.isfinite(r.spearman) for r in results.values())


def test_factory_with_options_and_inputs_only(user_code, monkeypatch, tmp_path):
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path / "cache"))
    data = load_data(f"{user_code}:images?n=10&side=12")
    assert data.name == f"{user_code}:images?n=10&side=12"
    assert not data.labelled and len(data.calib) == len(data.eval) == 5
    assert data.input_shape == (3, 12, 12)
    with pytest.raises(TapqError, match="failed with options.*colour"):
        load_data(f"{user_code}:images?colour=1")


def test_evaluate_reports_agreement_and_kl_against_a_reference():
    model = torch.nn.Linear(4, 3)
    split = load_data("digits").eval  # labelled: accuracy and agreement side by side
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    reference = model(x).detach()
    from tapq.data import Split

    same = evaluate(model, Split(x, None), reference=reference)
    assert same.accuracy is None and same.agreement == 1.0 and same.kl == pytest.approx(0, abs=1e-6)
    assert same.loss == same.kl
    shifted = evaluate(model, Split(x, None), reference=reference.flip(1))
    assert shifted.agreement < 1.0 and shifted.kl > 0
    assert evaluate(load_model("digits-cnn"), split).agreement is None


@pytest.mark.slow
def test_photos_are_deterministic_crops_at_the_asked_size():
    pytest.importorskip("skimage")
    data = load_data("photos?size=64")
    again = load_data("photos?norm=imagenet&size=64")  # the default spelled out: same data
    assert again is data and data.name == "photos?size=64"
    assert not data.labelled and data.input_shape == (3, 64, 64)
    assert len(data.eval) > len(data.calib) > 100 and data.train is data.calib
    # every crop is followed by its mirror image
    torch.testing.assert_close(data.eval.x[1], data.eval.x[0].flip(-1))
    tf = load_data("photos?size=64&norm=tf")
    assert tf.eval.x.min() >= -127 / 128 - 1e-6 and tf.eval.x.max() <= 128 / 128 + 1e-6
    with pytest.raises(TapqError, match="norm=zzz"):
        load_data("photos?size=64&norm=zzz")


@pytest.mark.slow
def test_photo_crops_keep_their_photo_so_reliability_halves_split_photos():
    pytest.importorskip("skimage")
    data = load_data("photos?size=64")
    groups = data.eval.groups
    assert groups is not None and len(groups) == len(data.eval)
    assert set(groups.tolist()).isdisjoint(data.calib.groups.tolist())  # photos, not crops
    even, odd = data.eval.halves()
    assert len(even) + len(odd) == len(data.eval) and min(len(even), len(odd)) > 60
    assert set(groups[even].tolist()).isdisjoint(groups[odd].tolist())
    # a subset (--eval-n) keeps each crop's photo, so its halves split photos too
    subset = load_data("photos?size=64&eval_n=50").eval
    a, b = subset.halves()
    assert set(subset.groups[a].tolist()).isdisjoint(subset.groups[b].tolist())
    # without sources, halves are the even and odd examples, as every benchmark had
    plain = load_data("digits").eval
    p, q = plain.halves()
    assert p.tolist() == list(range(0, len(plain), 2)) and q.tolist()[:2] == [1, 3]
