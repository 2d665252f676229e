"""Output files: checked before the work, written whole or not at all."""
import json

import pytest
from torch import nn

from tapq.errors import TapqError
from tapq.outputs import atomic_path, check_output_file, check_output_folder, write_text_atomic
from tapq.quant import BitConfig, save_quantized


def test_a_finished_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "bits.json"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["bits.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "bits.json"
    target.write_text("old")
    with pytest.raises(OSError):
        with atomic_path(target) as partial:
            partial.write_text("half of it")
            raise OSError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bits.json"]


def test_a_failed_save_writes_nothing_at_the_target(tmp_path, monkeypatch):
    def half_a_checkpoint(obj, path):
        open(path, "wb").write(b"PK\x03\x04 truncated")
        raise RuntimeError("killed while saving")

    monkeypatch.setattr("tapq.quant.export.torch.save", half_a_checkpoint)
    with pytest.raises(RuntimeError):
        save_quantized(nn.Sequential(), BitConfig(), tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def test_bit_config_save_round_trips(tmp_path):
    config = BitConfig({"fc": 4}, {"fc": 8}, "digits-cnn", ["fc"])
    config.save(tmp_path / "bits.json")
    assert BitConfig.load(tmp_path / "bits.json") == config
    assert json.loads((tmp_path / "bits.json").read_text())["w"] == {"fc": 4}


def test_output_paths_are_checked_before_any_work(tmp_path):
    (tmp_path / "a_file").write_text("")
    assert check_output_file(tmp_path / "new.json", "--out") == tmp_path / "new.json"
    with pytest.raises(TapqError, match="--out .* is a folder"):
        check_output_file(tmp_path, "--out")
    with pytest.raises(TapqError, match="does not exist; create it first"):
        check_output_file(tmp_path / "no" / "new.json", "--out")
    assert check_output_folder(tmp_path / "new" / "run", "--out") == tmp_path / "new" / "run"
    with pytest.raises(TapqError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "a_file" / "run", "--out")
    assert not (tmp_path / "new").exists()  # checking creates nothing
