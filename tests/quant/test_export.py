import pytest
import torch

import tapq
from tapq.errors import TapqError
from tapq.models.nets import DigitsCNN


def test_apply_a_saved_config_then_save_and_reload_the_quantized_model(tmp_path, digits_model,
                                                                     digits):
    config = tapq.BitConfig(w={"conv1.0": 8, "conv2.0": 3, "dw.0": 4, "pw.0": 2, "fc": 8},
                            a={"conv1.0": 8, "conv2.0": 6, "fc": 8})
    config.save(tmp_path / "bits.json")
    quantized = tapq.apply_bit_config(digits_model, tmp_path / "bits.json", digits.calib)
    tapq.save_quantized(quantized, config, tmp_path / "q.pt")
    reloaded, loaded_config = tapq.load_quantized(tmp_path / "q.pt", DigitsCNN())
    assert loaded_config == config
    x = digits.eval.x[:100]
    with torch.no_grad():
        assert torch.equal(quantized(x), reloaded(x))
    # the stored weights really are quantized: 2-bit pointwise weights are ternary per channel
    pw = reloaded.get_submodule("pw.0")
    assert pw.w_bits == 2 and all(len(row.unique()) <= 3 for row in pw.weight_q.flatten(1))


def test_loading_refuses_other_files_and_models(tmp_path, digits_model, digits):
    torch.save({"state_dict": {}}, tmp_path / "plain.pt")
    with pytest.raises(TapqError, match="not a tapq quantized model"):
        tapq.load_quantized(tmp_path / "plain.pt", DigitsCNN())
    config = tapq.uniform_config(["conv1.0", "fc"], 4)
    tapq.save_quantized(tapq.quantize(digits_model, config, digits.calib), config,
                        tmp_path / "q.pt")
    with pytest.raises(TapqError, match="does not have"):
        tapq.load_quantized(tmp_path / "q.pt", torch.nn.Sequential(torch.nn.Linear(2, 2)))
