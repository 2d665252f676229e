"""Users' data factories, and users' data through the command line."""
import json
import subprocess
import sys

import pytest
import torch

from tapq.data import DatasetSplits, load_data
from tapq.errors import TapqError
from image_folders import flat_folder, fresh_memo  # noqa: F401 (fixtures)

DATA_PY = '''
import torch

PROTOTYPES = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))


def pair(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = PROTOTYPES[y] + 0.3 * torch.randn(n, 64, generator=g)
    return x.view(n, 1, 8, 8), y


def make():
    return {"calib": pair(60, 1), "eval": pair(90, 2)}


class Pairs(torch.utils.data.Dataset):
    def __init__(self, n):
        self.x, self.y = pair(n, 3)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def datasets():
    return {"train": Pairs(30), "calib": Pairs(12), "eval": Pairs(9), "num_classes": 5}


def empty():
    return {"calib": pair(0, 1), "eval": pair(9, 2)}


def float_labels():
    x, y = pair(9, 1)
    return {"calib": (x, y.float()), "eval": (x, y)}


def shapes():
    x, y = pair(9, 1)
    return {"calib": (x, y), "eval": (x.view(9, 64), y)}


def raises():
    raise FileNotFoundError("/data/secret.npz")


def junk():
    return [1, 2, 3]
'''

NET_PY = '''
import torch
from torch import nn


def build():
    """Nearest prototype: a linear layer that scores each class's prototype."""
    from data import PROTOTYPES

    conv, fc = nn.Conv2d(1, 1, 1), nn.Linear(64, 3)
    with torch.no_grad():
        conv.weight.fill_(1.0), conv.bias.zero_()
        fc.weight.copy_(PROTOTYPES)
        fc.bias.copy_(-0.5 * (PROTOTYPES ** 2).sum(1))
    return nn.Sequential(conv, nn.Flatten(), fc).eval()
'''


@pytest.fixture
def user_files(tmp_path):
    (tmp_path / "data.py").write_text(DATA_PY)
    return tmp_path


def test_factory_of_tensor_pairs_trains_on_calibration_when_no_train(user_files):
    data = load_data(f"{user_files / 'data.py'}:make")
    assert (len(data.calib), len(data.eval), data.num_classes) == (60, 90, 3)
    assert data.train is data.calib and data.input_shape == (1, 8, 8)
    subset = load_data(f"{user_files / 'data.py'}:make?calib_n=16&eval_n=24")
    assert (len(subset.calib), len(subset.eval)) == (16, 24)
    assert torch.bincount(subset.eval.y).tolist() == [8, 8, 8]


def test_factory_of_torch_datasets_and_of_dataset_splits(user_files):
    data = load_data(f"{user_files / 'data.py'}:datasets")
    assert (len(data.train), len(data.calib), len(data.eval)) == (30, 12, 9)
    assert data.num_classes == 5 and data.eval.y.dtype == torch.long
    assert isinstance(data, DatasetSplits)
    again = load_data("tapq.data.builtin:_digits?eval_n=50")  # a module path; DatasetSplits
    assert again.name == "tapq.data.builtin:_digits?eval_n=50" and len(again.eval) == 50


@pytest.mark.parametrize("factory, message", [
    ("empty", "split 'calib' is empty"),
    ("float_labels", "labels must be integers"),
    ("shapes", "splits have different input shapes"),
    ("raises", "data factory '{path}:raises' failed: FileNotFoundError: /data/secret.npz"),
    ("junk", "returned list; return a DatasetSplits or a dict"),
    ("missing", "has no callable 'missing' (data spec"),
])
def test_factory_mistakes_are_one_line_errors_naming_the_spec(user_files, factory, message):
    path = user_files / "data.py"
    with pytest.raises(TapqError) as raised:
        load_data(f"{path}:{factory}")
    assert message.format(path=path) in str(raised.value)
    assert "\n" not in str(raised.value)


def tapq(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tapq.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_quantize_a_factory_model_on_factory_data_from_the_cli(user_files):
    (user_files / "net.py").write_text(NET_PY)  # imports data.py beside it (the cwd)
    result = tapq("quantize", "--model", "net.py:build", "--data", "data.py:make",
                  "--calib-n", "16", "--eval-n", "24", "--bits", "4", "--json", cwd=user_files)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["fp_acc"] == 1.0 and report["q_acc"] > 0.9
    assert set(report["config"]["w"].values()) == {4}


def test_quantize_on_an_image_folder_from_the_cli(flat_folder):
    net = flat_folder.parent / "colours.py"
    net.write_text("from torch import nn\n\ndef build():\n    return nn.Sequential("
                   "nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), "
                   "nn.Linear(4, 3))\n")
    result = tapq("quantize", "--model", "colours.py:build", "--data",
                  f"imagefolder:{flat_folder.name}?resize=16&crop=16", "--eval-n", "6",
                  "--bits", "8", cwd=flat_folder.parent)
    assert result.returncode == 0, result.stderr
    title = " ".join(result.stdout.split())
    assert "on imagefolder:shapes?resize=16&crop=16&eval_n=6 (6 evaluation images)" in title
