"""Data specs: one canonical spelling, options checked, subsets seeded and stratified."""
import pytest
import torch

from tapq.data import DataSpec, load_data
from tapq.errors import TapqError
from image_folders import fresh_memo  # noqa: F401 (fixtures)


@pytest.mark.parametrize("text, canonical", [
    ("mnist", "mnist"),  # unchanged: benchmarks built before options still resume
    ("digits?", "digits"),
    ("digits?eval_n=500&calib_n=50", "digits?calib_n=50&eval_n=500"),
    ("imagefolder:/d?crop=224&resize=256&mean=0.485,0.456,0.406", "imagefolder:/d"),
    ("imagefolder:/d?gray=1&std=0.226&crop=32&resize=32", "imagefolder:/d?resize=32&crop=32&gray=1"),
    ("pkg.mod:make?eval_n=24", "pkg.mod:make?eval_n=24"),
    ("dir/data.py:make", "dir/data.py:make"),
])
def test_canonical_spelling(text, canonical):
    assert DataSpec.parse(text).format() == canonical
    assert DataSpec.parse(canonical).format() == canonical


def test_sizes_from_flags_override_the_spec():
    spec = DataSpec.parse("digits?eval_n=500").with_sizes(calib_n=16)
    assert spec.format() == "digits?calib_n=16&eval_n=500"
    assert spec.with_sizes(eval_n=20).format() == "digits?calib_n=16&eval_n=20"


@pytest.mark.parametrize("text, message", [
    ("cifar", "unknown data spec 'cifar'"),
    ("digits?eval_n=0", "eval_n=0: give a whole number, at least 1"),
    ("digits?eval_n=x", "eval_n=x"),
    ("digits?resize=32", "unknown option 'resize'"),
    ("digits?eval_n", "needs a value"),
    ("digits?eval_n=5&eval_n=6", "given twice"),
    ("imagefolder:", "names no folder"),
    ("imagefolder:/d?mean=a,b", "give numbers separated by commas"),
    ("imagefolder:/d?std=0", "std must be positive"),
    ("imagefolder:/d?gray=maybe", "use 0 or 1"),
])
def test_bad_specs_are_one_line_errors(text, message):
    with pytest.raises(TapqError, match=message.replace("?", r"\?")):
        DataSpec.parse(text)


def test_eval_n_on_builtin_digits_is_a_fixed_stratified_subset():
    full = load_data("digits")
    data = load_data("digits?eval_n=100")
    assert data.name == "digits?eval_n=100" and len(data.eval) == 100
    assert data.train is full.train and data.calib is full.calib
    expected = 100 * torch.bincount(full.eval.y) / len(full.eval)  # each class its share
    assert (torch.bincount(data.eval.y) - expected).abs().max() < 1
    rows = {tuple(row.flatten().tolist()) for row in full.eval.x}
    assert all(tuple(row.flatten().tolist()) in rows for row in data.eval.x)
    from tapq.data import loading

    loading._memo.clear()
    assert torch.equal(load_data("digits?eval_n=100").eval.x, data.eval.x)
    with pytest.raises(TapqError, match="more examples than its eval split holds"):
        load_data("digits?eval_n=5000")
