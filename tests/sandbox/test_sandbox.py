"""The sandbox: static screen, worker limits, parent robustness, and the hostile corpus.

Every file in ``hostile/`` is a candidate an LLM might write (or an attacker would); its
first line says what it tries and which status the sandbox must give it.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tapq.sandbox import runner as sandbox
from tapq.sandbox.boundary import worker_env
from tapq.sandbox import (Sandbox, SandboxLimits, sandboxed_proxy_table,
                                   save_stats_for_sandbox, screen)
from tapq.errors import TapqError
from tapq.proxies.baselines import proxy_table
from tapq.proxies import model_stats

BITS = [2, 4, 8]
LIMITS = SandboxLimits(wall_seconds=5, cpu_seconds=3, memory_mb=512)
HOSTILE = sorted((Path(__file__).parent / "hostile").glob("*.py"))
HEADER = re.compile(r"# expect (ok|rejected|error|timeout|memory|crashed): (.+)")
SECRET = "sk-test-secret"
CANARIES = [Path(p) / "tapq-hostile-pwned" for p in ("/tmp", "/var/tmp", "/dev/shm", ".")]
MARGIN = 3.0  # seconds beyond the limits for killing, reaping and cleaning up

GOOD = '''
import torch

def sensitivity(layer, bits):
    return float(layer.hessian_trace_avg * ((layer.weight - layer.quant(bits)) ** 2).sum())
'''


def _in_process(code: str):
    namespace: dict = {}
    exec(compile(code, "<trusted>", "exec"), namespace)
    return namespace["sensitivity"]


@pytest.fixture(scope="module")
def stats(digits_model, digits):
    return model_stats(digits_model, digits)


@pytest.fixture(scope="module")
def stats_file(stats, tmp_path_factory):
    path = tmp_path_factory.mktemp("sandbox") / "stats.pt"
    save_stats_for_sandbox(stats, path, BITS)
    return path


@pytest.fixture(scope="module")
def box(stats_file):
    return Sandbox(stats_file, BITS, LIMITS)


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("TAPQ_TEST_TOKEN", SECRET)


# --- correct candidates -------------------------------------------------------------
def test_a_correct_proxy_gives_the_in_process_table(box, stats):
    result = box.table(GOOD)
    assert result.status == "ok", result.error
    assert result.error == ""
    expected = proxy_table(stats, _in_process(GOOD), BITS)
    assert result.table.shape == (len(stats), len(BITS))
    np.testing.assert_allclose(result.table, expected, rtol=1e-6)
    assert 0 < result.startup_seconds < result.seconds
    assert 0 <= result.table_seconds < result.seconds


def test_every_cell_sees_a_fresh_copy_of_its_layer(box, stats):
    code = '''
def sensitivity(layer, bits):
    layer.weight.add_(1.0)
    return float(layer.weight.sum()) + bits
'''
    result = box.table(code)
    assert result.status == "ok", result.error
    expected = [[float((s.weight + 1.0).sum()) + b for b in BITS] for s in stats]
    np.testing.assert_allclose(result.table, expected, rtol=1e-6)


def test_a_mutating_candidate_cannot_affect_the_next(box):
    before = box.table(GOOD)
    mutant = (Path(__file__).parent / "hostile" / "mutate_stats.py").read_text()
    assert box.table(mutant).status == "ok"
    after = box.table(GOOD)
    np.testing.assert_array_equal(before.table, after.table)


ORDINARY = '''
import math
import numpy as np
import torch
import torch.nn.functional as F


def sensitivity(layer, bits):
    w = layer.weight.double().flatten(1)
    error = (w - layer.quant(bits).double().flatten(1)).pow(2).sum()
    spectrum = torch.linalg.svdvals(w).sum() + torch.fft.rfft(w, dim=1).abs().mean()
    acts = layer.act_in[:64]
    spread = torch.quantile(acts.flatten()[:512], 0.9) + np.percentile(w.numpy(), 50)
    x = torch.ones(2, w.shape[1], requires_grad=True)
    (g,) = torch.autograd.grad((x @ w.T.float()).pow(2).sum(), x)
    conv = F.conv2d(torch.randn(1, 1, 6, 6), torch.randn(2, 1, 3, 3)).abs().sum()
    noise = np.random.default_rng(0).normal() + torch.randn(()).item()
    print(layer, w[:1], np.arange(3))
    extra = spectrum + spread + g.abs().sum() + conv + noise + math.log(layer.macs + 1)
    return float(error * layer.hessian_trace_avg + 1e-12 * extra)
'''


def test_ordinary_numpy_and_torch_work_under_the_lock_down(box):
    """Linear algebra, FFTs, autograd, convolutions, RNGs and printing need no new
    threads, processes or imports once the worker is locked down."""
    first, second = box.table(ORDINARY), box.table(ORDINARY)
    assert first.status == "ok", first.error
    np.testing.assert_array_equal(first.table, second.table)  # seeded: deterministic


def test_sandboxed_proxy_table_returns_the_table_or_raises_one_line(stats):
    table = sandboxed_proxy_table(GOOD, stats, BITS, LIMITS)
    np.testing.assert_allclose(table, proxy_table(stats, _in_process(GOOD), BITS), rtol=1e-6)
    with pytest.raises(TapqError, match=r"proxy error in the sandbox: .*line 3") as error:
        sandboxed_proxy_table("def sensitivity(layer, bits):\n    x = 1\n    return 1 / 0\n",
                              stats, BITS, LIMITS)
    assert "\n" not in str(error.value)


# --- the hostile corpus -------------------------------------------------------------
def test_the_corpus_is_large_and_every_program_says_what_it_expects():
    assert len(HOSTILE) >= 30
    for path in HOSTILE:
        assert HEADER.match(path.read_text().splitlines()[0]), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_hostile_candidate_is_contained(path, box, stats_file, secret_env, tmp_path,
                                        monkeypatch):
    # a private temporary folder: other processes' sandboxes in the shared /tmp would
    # look like scratch folders left behind
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = path.read_text()
    expected, what = HEADER.match(code.splitlines()[0]).groups()
    for canary in CANARIES:
        canary.unlink(missing_ok=True)
    cwd, environ = os.getcwd(), dict(os.environ)
    digest = hashlib.sha256(stats_file.read_bytes()).hexdigest()
    scratch_before = set(tmp_path.glob("tapq-scratch-*"))

    start = time.monotonic()
    result = box.table(code)
    elapsed = time.monotonic() - start

    assert result.status == expected, f"{what}: {result.status}: {result.error}"
    assert (result.table is not None) == (expected == "ok")
    if expected != "ok":
        assert result.error.strip() and len(result.error) <= sandbox.MAX_ERROR_CHARS
    assert SECRET not in result.error
    assert elapsed <= result.startup_seconds + LIMITS.wall_seconds + MARGIN
    # the host is unharmed: same directory, environment, statistics; nothing written
    assert os.getcwd() == cwd and dict(os.environ) == environ
    assert hashlib.sha256(stats_file.read_bytes()).hexdigest() == digest
    assert not any(canary.exists() for canary in CANARIES)
    assert set(tmp_path.glob("tapq-scratch-*")) <= scratch_before


# --- limits and reasons -------------------------------------------------------------
def test_reasons_name_the_line_of_the_candidate(box):
    code = "import torch\n\ndef sensitivity(layer, bits):\n    return float(layer.nothing)\n"
    result = box.table(code)
    assert result.status == "error"
    assert "AttributeError" in result.error and "line 4" in result.error
    assert "at 2 bits" in result.error


def test_cpu_limit_names_the_running_line(stats_file):
    code = "def sensitivity(layer, bits):\n    x = 0\n    while True:\n        x += 1\n"
    # a generous wall clock: on a loaded machine 3 CPU-seconds may take longer than 5 s
    result = Sandbox(stats_file, BITS, SandboxLimits(wall_seconds=120, cpu_seconds=2)).table(code)
    assert result.status == "timeout" and "CPU" in result.error
    assert re.search(r"line [34]", result.error)


def test_wall_clock_limit_kills_the_worker_and_says_where(stats_file):
    limits = SandboxLimits(wall_seconds=2, cpu_seconds=60, memory_mb=512)
    code = "def sensitivity(layer, bits):\n    while True:\n        pass\n"
    result = Sandbox(stats_file, BITS, limits).table(code)
    assert result.status == "timeout" and "wall-clock" in result.error
    assert "line 2" in result.error or "line 3" in result.error
    assert result.seconds <= result.startup_seconds + 2 + MARGIN


@pytest.mark.slow
def test_a_candidate_that_swallows_the_cpu_limit_is_killed(stats_file):
    code = (Path(__file__).parent / "hostile" / "swallow_cpu_limit.py").read_text()
    limits = SandboxLimits(wall_seconds=60, cpu_seconds=1)
    result = Sandbox(stats_file, BITS, limits).table(code)
    assert result.status == "timeout" and "CPU time limit of 1 s" in result.error
    # killed by the CPU limits, not the 60 s wall clock (on a loaded machine a CPU-second
    # can take several wall seconds, so no tighter wall bound holds everywhere)
    assert result.seconds < result.startup_seconds + 60


def test_printed_output_is_quoted_in_errors_but_capped(stats_file):
    code = ('def sensitivity(layer, bits):\n    print("x" * 10 ** 6, "marker")\n'
            '    raise ValueError("no")\n')
    result = Sandbox(stats_file, BITS, SandboxLimits(output_kb=1)).table(code)
    assert result.status == "error" and "ValueError: no" in result.error
    assert len(result.error) <= sandbox.MAX_ERROR_CHARS


# --- the static screen --------------------------------------------------------------
@pytest.mark.parametrize("code, reason", [
    ("import os\ndef sensitivity(l, b):\n    return 1.0\n", "line 1: import of 'os'"),
    ("import numpy.lib\ndef sensitivity(l, b):\n    return 1.0\n", "allowed submodules: "),
    ("from torch import load\ndef sensitivity(l, b):\n    return 1.0\n", "importing 'load'"),
    ("from numpy import *\ndef sensitivity(l, b):\n    return 1.0\n", "importing '*'"),
    ("from . import x\ndef sensitivity(l, b):\n    return 1.0\n", "import of '.'"),
    ("def sensitivity(l, b):\n    return l.__class__\n", "line 2: attribute .__class__"),
    ("def sensitivity(l, b):\n    return l._quant\n", "attribute ._quant"),
    ("import torch\ndef sensitivity(l, b):\n    return torch.hub\n", "attribute .hub"),
    ("def sensitivity(l, b):\n    return open('x')\n", "'open' is not available"),
    ("def sensitivity(l, b):\n    return __import__('os')\n", "name '__import__'"),
    ("def sensitivity(l, b):\n    return 1.0\nclass A:\n    pass\n", "class definitions"),
    ("async def sensitivity(l, b):\n    return 1.0\n", "async"),
    # class patterns read attributes with no ast.Attribute node (dunders included)
    ("def sensitivity(l, b):\n    match l:\n        case float(__class__=c):\n"
     "            return 1.0\n    return 0.0\n", "line 3: class patterns"),
    ("def sensitivity(l, b):\n    match l:\n        case float(x):\n            return x\n"
     "    return 0.0\n", "use isinstance()"),
    ("def sensitivity(l):\n    return 1.0\n", "two arguments"),
    ("def sensitivity(l, b, *, k):\n    return 1.0\n", "keyword-only"),
    ("def f(l, b):\n    return 1.0\n", "must define a top-level function sensitivity"),
    ("def sensitivity(l, b):\n    return (\n", "SyntaxError at line"),
    ("x = 1\0\n", "null bytes"),
    # a parser bomb, built here: as a file in hostile/ it would crash linters as well
    ("def sensitivity(l, b):\n    return " + "-" * 15000 + "1\n", "cannot be parsed"),
    ("x = " + "(" * 3000 + ")" * 3000 + "\n", "too many nested parentheses"),
])
def test_screen_refuses_with_a_reason(code, reason):
    found = screen(code)
    assert found is not None and reason in found, found


def test_screen_lists_several_problems_first_line_first():
    code = ("import os\nimport sys\nimport socket\nimport ctypes\n"
            "def sensitivity(l, b):\n    return 1\n")
    found = screen(code)
    assert found.startswith("line 1: import of 'os'") and "(and 1 more)" in found


@pytest.mark.parametrize("code", [
    GOOD,
    "import numpy as np\nimport math\n"
    "def sensitivity(layer, bits):\n    return math.log(np.abs(1.0 + bits))\n",
    "import torch.nn.functional as F\n"
    "def sensitivity(layer, bits):\n    return float(F.relu(layer.weight).sum())\n",
    "from torch.nn import functional as F\nfrom torch import linalg\n"
    "def sensitivity(layer, bits):\n    return 1.0\n",
    # a variable may shadow a refused builtin's name: the worker's builtins lack it anyway
    "def sensitivity(layer, bits, scale=1.0):\n    input = layer.act_in\n"
    "    return float(input.abs().mean()) * scale\n",
    "def sensitivity(*args):\n    return 1.0\n",
    # value, sequence and mapping patterns read no attributes
    "def sensitivity(layer, bits):\n    match bits:\n        case 2 | 3:\n            return 2.0\n"
    "        case [a, *rest]:\n            return 1.0\n        case {'k': v}:\n"
    "            return 0.5\n    return 0.0\n",
])
def test_screen_accepts_ordinary_proxies(code):
    assert screen(code) is None


# --- the worker's process-level backstop --------------------------------------------
def test_worker_environment_is_built_from_nothing(secret_env, tmp_path):
    env = worker_env(tmp_path)
    assert SECRET not in json.dumps(env)
    assert not any(re.search("KEY|TOKEN|SECRET|OPENAI", name) for name in env)
    assert env["OMP_NUM_THREADS"] == "1" and env["HOME"] == str(tmp_path)


# --- the parent survives any worker -------------------------------------------------
READY = ('os.write(fd, b\'{"ready": true, "layers": 5, "cpu_limit": 99, "isolation": '
         '{"mechanisms": [], "missing": {}}}\\n\')\n')
FAKE_WORKERS = {
    "garbage_before_ready": ("os.write(fd, b'\\x00\\xffgarbage\\n')\n", "before running"),
    "dies_before_ready": ("os.kill(os.getpid(), signal.SIGSEGV)\n", "SIGSEGV"),
    "hangs_before_ready": ("time.sleep(60)\n", "did not start within 2 s"),
    "malformed_result": (READY + "os.write(fd, b'not json\\n')\n", "malformed result"),
    "truncated_result": (READY + "os.write(fd, b'{\"status\": \"ok\", \"table\": [[1.0')\n",
                         "without a result"),
    "wrong_shape": (READY + "os.write(fd, b'{\"status\": \"ok\", \"table\": [[1.0]]}\\n')\n",
                    "malformed result"),
    "nan_table": (READY + "os.write(fd, json.dumps({'status': 'ok', 'table': [[float('nan')] * 3]"
                  " * 5}).encode() + b'\\n')\n", "malformed result"),
    "unknown_status": (READY + "os.write(fd, b'{\"status\": \"pwned\"}\\n')\n", "malformed"),
    "segfault_after_ready": (READY + "os.kill(os.getpid(), signal.SIGSEGV)\n", "SIGSEGV"),
    "exits_after_ready": (READY + "os._exit(7)\n", "exited with code 7"),
    "floods_the_channel": (READY + "os.write(fd, b'x' * (9 * 2 ** 20))\n", "oversized"),
}


@pytest.mark.parametrize("name", list(FAKE_WORKERS))
def test_parent_survives_a_misbehaving_worker(name, stats_file, tmp_path, monkeypatch):
    body, reason = FAKE_WORKERS[name]
    fake = tmp_path / "fake_worker.py"
    fake.write_text("import json, os, signal, sys, time\nfd = int(sys.argv[1])\n" + body)
    monkeypatch.setattr(sandbox, "WORKER", fake)
    monkeypatch.setenv("TAPQ_ALLOW_UNISOLATED", "1")  # the fake worker has no boundary
    limits = SandboxLimits(wall_seconds=2, startup_seconds=2)
    start = time.monotonic()
    result = Sandbox(stats_file, BITS, limits).table(GOOD)
    assert result.status == "crashed" and reason in result.error, result.error
    assert result.table is None
    assert time.monotonic() - start < 4 + MARGIN


def test_the_whole_process_group_is_killed(stats_file, tmp_path, monkeypatch):
    """A worker that exits but leaves a child holding the result pipe: the call still ends
    at the wall-clock limit, and the child is killed with the group."""
    fake = tmp_path / "fake_worker.py"
    fake.write_text("import os, sys, time\nfd = int(sys.argv[1])\n" + READY +
                    "child = os.fork()\nif child == 0:\n    time.sleep(60)\n"
                    f"open({str(tmp_path / 'child')!r}, 'w').write(str(child))\nos._exit(0)\n")
    monkeypatch.setattr(sandbox, "WORKER", fake)
    monkeypatch.setenv("TAPQ_ALLOW_UNISOLATED", "1")  # the fake worker has no boundary
    result = Sandbox(stats_file, BITS, SandboxLimits(wall_seconds=2)).table(GOOD)
    assert result.status == "timeout" and "wall-clock" in result.error
    child = Path(f"/proc/{int((tmp_path / 'child').read_text())}/stat")
    time.sleep(0.2)
    # gone, or a zombie waiting for an init that does not reap (as in some containers)
    assert not child.exists() or child.read_text().rsplit(")", 1)[1].split()[0] in "ZX"


def test_tapq_installed_under_tmp_still_runs_its_sandbox(stats_file, tmp_path):
    """A virtual environment or checkout under /tmp (CI does this) must stay visible to the
    worker: the private tmpfs the worker mounts as root may not hide it."""
    import shutil

    copy = tmp_path / "src"
    shutil.copytree(Path(sandbox.__file__).parents[2], copy,
                    ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.pt"))
    script = ("import sys; from pathlib import Path; from tapq.sandbox import Sandbox; "
              "import tapq; assert tapq.__file__.startswith(sys.argv[2]), tapq.__file__; "
              "r = Sandbox(Path(sys.argv[1]), [2, 8]).table("
              "'def sensitivity(layer, bits):\\n    return float(bits)\\n'); "
              "print(r.status, r.error)")
    done = subprocess.run([sys.executable, "-c", script, str(stats_file), str(copy)],
                          env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stdout + done.stderr[-2000:]
