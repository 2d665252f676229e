"""benchmarks/gpu_throughput.py is run once, unattended, on a GPU machine: keep it working."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_throughput.py"


@pytest.mark.slow
def test_small_run_on_cpu_measures_every_part(tmp_path):
    out = tmp_path / "gpu_throughput.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--small", "--device", "cpu",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["errors"] == {}
    assert report["environment"]["device"] == "cpu" and report["environment"]["size"] == "small"
    assert report["stats"]["seconds"] > 0 and report["stats"]["breakdown_seconds"]["hessian_trace"] > 0
    assert report["ptq_eval"]["configs_per_minute"] > 0
    assert 0 < report["ptq_eval"]["forward_share"] <= 1
    overhead = report["fake_quant_overhead"]
    assert overhead["auto_impl"] == "inplace" and overhead["ratio"] == overhead["inplace"]["ratio"]
    assert overhead["fused"]["ratio"] > 0


def test_resnet18_has_the_paper_shape():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from gpu_throughput import ResNet18
    finally:
        sys.path.remove(str(SCRIPT.parent))
    from tapq.quant import find_quantizable_layers

    model = ResNet18()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's count
    assert len(find_quantizable_layers(model)) == 21  # 20 convolutions + fc
