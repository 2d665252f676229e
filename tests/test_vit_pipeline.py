"""End to end on the built-in transformer: benchmark -> proxy fitness -> allocation.

Every projection of ``digits-vit`` is a Linear on (batch, 17 tokens, 32 features), so
this runs each stage on 3-D Linear inputs through the real CLI entry point.
"""
import json
import math

import pytest

from tapq.cli import main
from tapq.proxies import BASELINE_PROXIES

pytestmark = pytest.mark.slow

ATTENTION = [f"blocks.{b}.attn.{p}" for b in (0, 1) for p in ("qkv", "proj")]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_vit_bench_proxy_eval_and_allocation(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path / "cache"))  # statistics from scratch
    layers = _json(capsys, ["layers", "--model", "digits-vit", "--json"])
    macs = {layer["name"]: layer["macs"] for layer in layers}
    assert macs["blocks.0.attn.qkv"] == 17 * 32 * 96 and macs["head"] == 32 * 10

    bench = str(tmp_path / "vit.db")
    assert main(["bench", "build", "--model", "digits-vit", "--out", bench, "--configs", "24",
                 "--ptq", "rtn", "--repeat", "6", "--bits", "2,4,8", "--calib-size", "64"]) == 0
    capsys.readouterr()
    info = _json(capsys, ["bench", "info", bench, "--json"])
    assert info["complete"] and info["measured"] == 24 and info["layers"] == 10
    assert info["fp_accuracy"] > 0.95 and info["accuracy_min"] < 0.8  # 2 bits hurt

    fitness = {row["proxy"]: row for row in
               _json(capsys, ["proxy", "eval", "--bench", bench, "--json"])}
    assert set(fitness) == set(BASELINE_PROXIES)
    for row in fitness.values():
        assert row["error"] is None and math.isfinite(row["spearman"]), row
    assert fitness["fisher"]["spearman"] > 0.8  # curvature-aware proxies rank it well

    result = _json(capsys, ["allocate", "--model", "digits-vit", "--proxy", "fisher",
                            "--budget", "avg-bits=4", "--ptq", "rtn", "--measure", "--json",
                            "--out", str(tmp_path / "bits.json")])
    bits = result["config"]["w"]
    assert set(bits) == set(macs) and result["avg_w_bits"] <= 4 + 1e-9
    assert all(bits[name] in (2, 3, 4, 6, 8) for name in ATTENTION)
    assert len(set(bits.values())) > 1  # mixed precision, not uniform 4 bits
    assert 0.9 < result["q_acc"] <= result["fp_acc"] + 0.01
    assert json.loads((tmp_path / "bits.json").read_text())["w"] == bits
