"""Allocation end to end on the digits model: proxy -> MILP -> PTQ -> measured accuracy."""
import json
import subprocess
import sys

import pytest

from tapq.allocate import Budget
from tapq.allocate.workflow import compare, uniform_within
from tapq.quant import PTQSettings


@pytest.fixture(scope="module")
def rows(digits_model, digits):
    return compare(digits_model, digits, [Budget.parse("avg-bits=3.5")], ["hawq_v2", "size"],
                   bits=(2, 3, 4, 8), settings=PTQSettings(calib_size=64), model_spec="digits-cnn")


def test_every_row_respects_the_budget_and_is_measured(rows):
    assert [r.label for r in rows] == ["hawq_v2", "size", "uniform W3"]
    for row in rows:
        assert row.result.avg_w_bits <= 3.5
        assert 0.0 <= row.result.q_acc <= 1.0 and row.result.fp_acc > 0.97
    assert rows[0].solve_ms is not None and rows[2].source == "uniform"


def test_uniform_reference_is_the_highest_uniform_width_that_fits(digits_model, digits):
    from tapq.measure import Measurer

    measurer = Measurer(digits_model, digits)
    b, config = uniform_within(measurer.layer_names, measurer.costs, [2, 3, 4, 8],
                               [Budget.parse("avg-bits=3.9")], 8, {})
    assert b == 3 and set(config.w.values()) == {3}


def test_cli_allocate_writes_a_config_that_quantize_accepts(tmp_path):
    out = tmp_path / "bits.json"
    result = subprocess.run([sys.executable, "-m", "tapq.cli", "allocate", "--model", "digits-cnn",
                             "--proxy", "fisher", "--budget", "size-mb=0.004", "--ptq", "rtn",
                             "--out", str(out), "--json"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["size_mb"] <= 0.004
    again = subprocess.run([sys.executable, "-m", "tapq.cli", "quantize", "--model", "digits-cnn",
                            "--config", str(out), "--json"], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["size_mb"] == pytest.approx(report["size_mb"])


def test_cli_infeasible_budget_is_one_clear_line():
    result = subprocess.run([sys.executable, "-m", "tapq.cli", "allocate", "--model", "digits-cnn",
                             "--proxy", "size", "--budget", "avg-bits=1"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2 and "smallest feasible avg-bits=2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_allocate_with_qat_reports_accuracy_before_and_after():
    result = subprocess.run([sys.executable, "-m", "tapq.cli", "allocate", "--model", "digits-cnn",
                             "--proxy", "fisher", "--budget", "avg-bits=2.5", "--ptq", "rtn",
                             "--finetune", "qat", "--epochs", "2", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["avg_w_bits"] <= 2.5
    assert report["qat_acc"] > report["q_acc"] > 0.5
