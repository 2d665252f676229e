"""The same numbers on a GPU as on the CPU, within float tolerance (skipped without CUDA).

TF32 is switched off here: with it, cuDNN convolutions round inputs to 10-bit mantissas
and the comparison would measure TF32, not tapq.
"""
import pytest
import torch

from tapq.bench import BenchSpec, BenchStore, build_bench
from tapq.measure import Measurer
from tapq.proxies.stats import collect_stats
from tapq.quant import PTQSettings, uniform_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_statistics_agree_including_the_hessian_trace(digits_model, digits):
    x, y = digits.calib.x[:64], digits.calib.y[:64]
    cpu = collect_stats(digits_model, x, y, seed=3, device="cpu")
    gpu = collect_stats(digits_model, x, y, seed=3, device="cuda")
    for a, b in zip(cpu, gpu):
        for field in ("weight", "grad", "fisher", "synflow", "act_in", "act_out"):
            t = getattr(b, field)
            assert t.device.type == "cpu" and t.dtype == torch.float32  # the contract
            assert torch.allclose(getattr(a, field), t, rtol=1e-3, atol=1e-6), (a.name, field)
        assert b.hessian_trace == pytest.approx(a.hessian_trace, rel=1e-3)  # same probes
        assert b.hessian_eig == pytest.approx(a.hessian_eig, rel=1e-2)


@pytest.mark.parametrize("method", ["rtn", "adaround"])
def test_ptq_accuracy_agrees(digits_model, digits, method):
    settings = PTQSettings(weight_rounding=method, calib_size=128)
    results = [Measurer(digits_model, digits, settings, device) for device in ("cpu", "cuda")]
    assert results[1].engine.fp_model.fc.weight.is_cuda
    assert results[0].fp_acc == pytest.approx(results[1].fp_acc, abs=0.01)  # near-tie argmax
    for bits in (8, 4, 3):
        config = uniform_config(results[0].layer_names, bits, 8)
        cpu, gpu = (m.measure(config) for m in results)
        # a rare activation tie may round the other way on the GPU's fused op
        assert gpu.q_acc == pytest.approx(cpu.q_acc, abs=0.01), bits
        assert gpu.size_mb == cpu.size_mb and gpu.bitops == cpu.bitops


def test_small_benchmark_agrees_and_records_its_device(tmp_path):
    spec = BenchSpec(model="digits-cnn", configs=10, repeat=2, ptq="rtn", calib_size=64,
                     layer_sensitivity=False)
    stores = [build_bench(spec, tmp_path / f"{device}.db", device=device)
              for device in ("cpu", "cuda")]
    try:
        accuracy = [{r.config_id: r.accuracy for r in s.results(0)} for s in stores]
        assert accuracy[0].keys() == accuracy[1].keys() and len(accuracy[0]) == 10
        for key, value in accuracy[0].items():
            assert accuracy[1][key] == pytest.approx(value, abs=0.01)
        assert stores[0].meta()["devices"] == ["cpu"]
        assert stores[1].meta()["devices"] == ["cuda"]
    finally:
        for store in stores:
            store.close()
    # the device is no resume key: the CPU benchmark continues on the GPU
    build_bench(spec, tmp_path / "cpu.db", device="cuda").close()
    store = BenchStore(tmp_path / "cpu.db")
    try:
        assert store.meta()["devices"] == ["cpu", "cuda"]
    finally:
        store.close()
