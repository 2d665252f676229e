import json

import pytest

from tapq.errors import TapqError
from tapq.quant import BitConfig, pin_layers, uniform_config

NAMES = ["stem", "block.conv", "block.dw", "fc"]


def test_round_trips_through_json(tmp_path):
    config = BitConfig(w={"stem": 8, "block.conv": 3, "block.dw": 6, "fc": 32},
                       a={"stem": 8, "block.conv": 4}, model="toy", pinned=["stem"])
    path = tmp_path / "config.json"
    config.save(path)
    assert json.loads(path.read_text())["w"]["block.conv"] == 3
    assert BitConfig.load(path) == config


def test_absent_layers_are_full_precision():
    config = BitConfig(w={"stem": 4})
    assert config.w_bits("fc") == 32 and config.a_bits("stem") == 32


def test_unknown_layer_is_rejected():
    with pytest.raises(TapqError, match="not in the model: blok.conv"):
        BitConfig(w={"blok.conv": 4}).validate(NAMES)


@pytest.mark.parametrize("bits", [1, 9, 0])
def test_invalid_bits_are_rejected(bits):
    with pytest.raises(TapqError, match="not supported"):
        BitConfig(w={"stem": bits}).validate(NAMES)


def test_pinning_first_and_last():
    config = uniform_config(NAMES, 3, 8, pin_first_last=8)
    assert config.w == {"stem": 8, "block.conv": 3, "block.dw": 3, "fc": 8}
    assert config.pinned == ["stem", "fc"]
    again = pin_layers(config, ["block.dw"], 6)
    assert again.w["block.dw"] == 6 and again.pinned == ["stem", "fc", "block.dw"]


@pytest.mark.parametrize("text", ["[1, 2]", '{"w": {"stem": "four"}}', "{not json"])
def test_malformed_files_raise_one_clear_error(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TapqError):
        BitConfig.load(path)


def test_missing_file_raises():
    with pytest.raises(TapqError, match="not found"):
        BitConfig.load("/nonexistent/config.json")
