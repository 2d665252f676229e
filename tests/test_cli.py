"""The command line as a user meets it: real processes, real exit codes."""
import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def tapq(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tapq.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_quantize_json_reports_the_contract_keys():
    result = tapq("quantize", "--model", "digits-cnn", "--bits", "4", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"fp_acc", "q_acc", "size_mb", "bitops", "config"} <= set(report)
    assert report["q_acc"] > 0.9 and report["fp_acc"] > 0.97
    assert set(report["config"]["w"].values()) == {4}


def test_quantize_with_a_config_file_and_pinning(tmp_path):
    saved = tmp_path / "bits.json"
    result = tapq("quantize", "--model", "digits-cnn", "--bits", "3", "--pin-first-last", "8",
                  "--save-config", str(saved), "--json")
    assert result.returncode == 0, result.stderr
    config = json.loads(saved.read_text())
    assert config["w"]["conv1.0"] == 8 and config["w"]["fc"] == 8 and config["w"]["dw.0"] == 3
    again = tapq("quantize", "--model", "digits-cnn", "--config", str(saved), "--json")
    assert json.loads(again.stdout)["q_acc"] == json.loads(result.stdout)["q_acc"]


def test_human_table_and_layers_listing():
    result = tapq("quantize", "--model", "digits-cnn", "--bits", "8")
    assert result.returncode == 0 and "quantized acc" in result.stdout
    layers = json.loads(tapq("layers", "--model", "digits-cnn", "--json").stdout)
    assert [l["kind"] for l in layers] == ["conv", "conv", "depthwise", "conv", "linear"]


@pytest.fixture
def bad_config(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"w": {"conv1.0": 4, "conv9": 4}}))
    return str(path)


@pytest.mark.parametrize("args, message", [
    (["quantize", "--model", "resnet-9000", "--bits", "4"], "unknown model spec"),
    (["quantize", "--model", "digits-cnn", "--weights", "/no/such.pt", "--bits", "4"],
     "weights file not found"),
    (["quantize", "--model", "digits-cnn", "--bits", "9"], "bit-width 9 is not supported"),
    (["quantize", "--model", "digits-cnn", "--bits", "1"], "bit-width 1 is not supported"),
    (["quantize", "--model", "digits-cnn", "--config", "BAD"], "not in the model: conv9"),
    (["quantize", "--model", "digits-cnn", "--config", "/no/such.json"], "not found"),
    (["quantize", "--model", "digits-cnn", "--bits", "4", "--data", "cifar"], "unknown data spec"),
    (["quantize", "--model", "tapq.models.nets:DigitsCNN", "--bits", "4"], "--data is required"),
    (["quantize", "--model", "digits-cnn"], "one of the arguments --bits --config is required"),
    (["train", "resnet"], "no built-in model"),
    (["bench", "info", "/no/such.db"], "benchmark file not found"),
    (["bench", "build", "--model", "digits-cnn", "--out", "/tmp/x.db", "--bits", "2,x"],
     "comma-separated list of integers"),
    (["bench", "build", "--model", "digits-cnn", "--out", "/tmp/x.db", "--bits", "2,12"],
     "bit-width 12 is not supported"),
    (["proxy", "eval", "--bench", "/no/such.db"], "benchmark file not found"),
    (["proxy", "eval", "--bench", "/no/such.db", "--proxy", "magic"], "unknown proxy"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(args, message, bad_config):
    result = tapq(*[bad_config if a == "BAD" else a for a in args])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_every_command_help_has_an_example():
    for command in ("demo", "quantize", "layers", "train", "bench build", "bench info",
                    "proxy list", "proxy eval", "allocate", "compare", "discover", "report"):
        result = tapq(*command.split(), "--help")
        assert result.returncode == 0 and "example: tapq " + command in result.stdout


@pytest.mark.slow
def test_ctrl_c_stops_with_one_line_and_keeps_what_was_measured(tmp_path):
    path = tmp_path / "stopped.db"
    command = [sys.executable, "-m", "tapq.cli", "--quiet", "bench", "build", "--model",
               "digits-cnn", "--out", str(path), "--configs", "40", "--ptq", "rtn",
               "--repeat", "0", "--bits", "2,4,8", "--calib-size", "64"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    count, deadline = 0, time.time() + 120
    while count < 5 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(path) as db:
                count = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        except sqlite3.OperationalError:
            pass
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    # a 40-configuration build is warned about up front (too small for iso fitness); beside
    # that warning, the interruption is exactly one line
    said = [line for line in stderr.strip().splitlines() if not line.startswith("tapq: warning:")]
    assert len(said) == 1 and "Traceback" not in stderr
    assert "interrupted; finished results are kept" in said[0]
    with sqlite3.connect(path) as db:
        kept = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert 5 <= kept < 40 + 15
    subprocess.run(command, check=True, timeout=300)  # the rerun finishes the job
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 40 + 15


@pytest.mark.slow
def test_the_main_job_without_discovery(tmp_path):
    """`tapq demo --no-discovery`: the README's main command up to the baseline proxies
    (~80 s), as a user runs it; discovery and the report have their own tests."""
    result = tapq("--quiet", "demo", "--no-discovery", "--json", "--out",
                  str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    demo = json.loads(result.stdout)
    accuracy = {(row["label"], row["ptq"]): row["q_acc"] for row in demo["ptq"]}
    assert len(accuracy) == 11 and accuracy["FP32", "-"] > 0.97
    for method in ("rtn", "adaround"):
        assert accuracy["W8A8", method] > accuracy["FP32", "-"] - 0.005
        assert accuracy["W2A8", method] < accuracy["W4A8", method]
    assert accuracy["W3A8", "adaround"] > accuracy["W3A8", "rtn"]  # AdaRound pays at 3 bits
    assert demo["bench"]["complete"] and demo["bench"]["noise_ceiling"] > 0.9
    fitness = {row["proxy"]: row["spearman_iso"] for row in demo["proxies"]}
    assert len(fitness) == 9 and fitness["fisher"] > fitness["size"] + 0.3
    assert demo["discovery"] is None and not (tmp_path / "demo").exists()


def test_proxy_stats_takes_the_cost_flags_and_reports_the_trace_error(tmp_path):
    import os

    env = {**os.environ, "TAPQ_CACHE": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "tapq.cli", "proxy", "stats", "--model",
                             "digits-cnn", "--stats-n", "16", "--hutchinson-probes", "3",
                             "--stats", "grad,hessian_trace", "--json"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 16 and report["hutchinson_probes"] == 3
    assert report["statistics"] == ["grad", "hessian_trace"]
    assert "hessian_eig" in report["skipped"] and 0 < report["hessian_trace_rse"] < 10
    assert all(layer["hessian_trace_se"] > 0 for layer in report["layers"])
