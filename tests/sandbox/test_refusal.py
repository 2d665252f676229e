"""Without the OS boundary, tapq refuses to run generated code unless told explicitly.

`without_boundary.py` denies the system calls the boundary is built from (user
namespaces, Landlock, seccomp), as an old kernel or a strict container would.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

WRAPPER = Path(__file__).with_name("without_boundary.py")
PROXY = ("def sensitivity(layer, bits):\n"
         "    return float(layer.num_params) * (8 - bits)\n")


def _tapq(*args: str, cwd: Path, boundary: bool = False) -> subprocess.CompletedProcess:
    prefix = [sys.executable] if boundary else [sys.executable, str(WRAPPER)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    env.pop("TAPQ_ALLOW_UNISOLATED", None)
    return subprocess.run([*prefix, "-m", "tapq.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture
def proxy_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(PROXY)
    return path


def test_proxy_eval_refuses_in_one_line_without_the_boundary(proxy_file, tmp_path):
    done = _tapq("proxy", "eval", "--proxy", str(proxy_file), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("tapq: error: the sandbox cannot isolate generated code")
    assert "network" in lines[0] and "--allow-unisolated" in lines[0]
    assert done.stdout == ""


def test_discover_refuses_before_creating_its_run(tmp_path):
    out = tmp_path / "run"
    done = _tapq("discover", "--out", str(out), "--llm", "embedded", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "the sandbox cannot isolate generated code" in done.stderr
    assert not out.exists()


def test_allow_unisolated_runs_and_says_so_on_every_output(proxy_file, tmp_path):
    done = _tapq("proxy", "eval", "--proxy", str(proxy_file), "--allow-unisolated", "--json",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tapq: warning: sandbox: NOT ISOLATED" in done.stderr
    assert '"proxy": "mine"' in done.stdout


def test_the_isolation_is_stated_before_the_first_candidate(proxy_file, tmp_path):
    done = _tapq("proxy", "eval", "--proxy", str(proxy_file), cwd=tmp_path, boundary=True)
    if "cannot isolate" in done.stderr:
        pytest.skip(f"no OS boundary on this machine: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sandbox: isolated (") and done.stderr == ""


def test_builtin_proxies_need_no_boundary(tmp_path):
    done = _tapq("proxy", "eval", "--proxy", "size", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "sandbox" not in done.stderr
