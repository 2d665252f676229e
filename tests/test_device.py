"""--device: resolved and checked in one place; the CPU path is unchanged by it."""
import json

import pytest
import torch

from tapq.cli import main
from tapq.device import model_device, resolve_device
from tapq.errors import TapqError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_cpu_and_none_resolve_to_the_cpu():
    assert resolve_device(None) == resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name, message", [("tpu", "not a device"), ("cuda:x", "not a device"),
                                           ("meta", "only cpu and cuda")])
def test_unknown_devices_are_refused(name, message):
    with pytest.raises(TapqError, match=message):
        resolve_device(name)


@no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_says_so_in_one_line(name):
    with pytest.raises(TapqError, match=f"--device {name}: no CUDA device is available "
                       r"\(this torch .* is "):
        resolve_device(name)


@no_cuda
@pytest.mark.parametrize("command", [["quantize", "--model", "digits-cnn", "--bits", "4"],
                                     ["proxy", "eval"], ["discover", "--out", "never"],
                                     ["report", "--bench", "x.db"], ["demo"],
                                     ["train", "digits-cnn", "--out", "w"],
                                     ["layers", "--model", "digits-vit"],
                                     ["allocate", "--proxy", "fisher", "--budget", "avg-bits=4"],
                                     ["compare", "--budget", "avg-bits=4"],
                                     ["bench", "build", "--out", "b.db"]])
def test_cli_refuses_cuda_before_any_work(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tapq: error: --device cuda: no CUDA")
    assert not any(tmp_path.iterdir())  # nothing written


def test_model_device_of_a_model_without_tensors_is_the_cpu():
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")


def test_explicit_cpu_gives_exactly_the_default_numbers(capsys):
    args = ["quantize", "--model", "digits-cnn", "--bits", "3", "--ptq", "rtn",
            "--calib-size", "64", "--json"]
    assert main(args) == 0
    default = json.loads(capsys.readouterr().out)
    assert main([*args, "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out) == default


def test_statistics_on_an_explicit_cpu_equal_the_default():
    from tapq.proxies.stats import collect_stats

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 3))
    x, y = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    options = dict(hutchinson_samples=2, power_iters=2)
    assert collect_stats(model, x, y, device="cpu", **options) == collect_stats(model, x, y,
                                                                                 **options)


def test_every_command_that_runs_a_model_takes_device():
    """`--device` on every command but those that run no model's forward on data: the
    three that only read files (bench info and list, proxy list), `bench set` (rewrites a benchmark's splits / target) and `bench
    import` (reads a ground truth; the model only names its layers)."""
    from tapq.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    missing = []
    for name, sub in commands.items():
        nested = [a for a in sub._actions if getattr(a, "choices", None) and a.dest.endswith(
            "_command")]
        parsers = nested[0].choices.items() if nested else [(None, sub)]
        for child, command in parsers:
            full = f"{name} {child}" if child else name
            if full not in ("bench info", "bench list", "proxy list", "bench set",
                            "bench import") and not any(
                    "--device" in a.option_strings for a in command._actions):
                missing.append(full)
    assert missing == []
