"""The hostile corpus with every language-level check off, judged by its effects on the
host, as root, as an ordinary user and as root without CAP_SYS_ADMIN.

Each mode runs tests/sandbox/host_effects.py in a subprocess as that user. Where a mode
cannot be had here (not root, no setpriv or capsh, no interpreter the other user may
run), the test says so and skips, after checking that tapq did not claim isolation it did
not have in the mode it can run.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tapq.sandbox import save_stats_for_sandbox

HARNESS = Path(__file__).with_name("host_effects.py")
NOBODY = 65534


@pytest.fixture(scope="module")
def shared_stats(stats, tmp_path_factory):
    """The statistics in a folder every user may read (pytest's own are private)."""
    folder = tmp_path_factory.mktemp("host-effects")
    folder.chmod(0o755)
    path = folder / "stats.pt"
    save_stats_for_sandbox(stats, path, [2, 4, 8])
    path.chmod(0o644)
    return path


@pytest.fixture(scope="module")
def stats(digits_model, digits):
    from tapq.proxies import model_stats

    return model_stats(digits_model, digits)


def _python_for(prefix: list[str]) -> str | None:
    """An interpreter `prefix` (a user switch) can run, and start again by its
    sys.executable (as the sandbox does), with our version: ours, or the system's."""
    check = ("import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True); "
             "print(tuple(sys.version_info[:2]))")
    for python in (sys.executable, f"/usr/bin/python{sys.version_info[0]}."
                   f"{sys.version_info[1]}", "/usr/bin/python3"):
        if python and os.path.exists(python) and subprocess.run(
                [*prefix, python, "-c", check], capture_output=True,
                text=True).stdout.strip() == str(tuple(sys.version_info[:2])):
            return python
    return None


def _mode(mode: str) -> tuple[list[str], str] | str:
    """(command prefix, interpreter) for `mode`, or why it cannot be had here."""
    if mode == "current":
        return [], sys.executable
    if os.geteuid() != 0:
        return f"the {mode} mode needs root to switch users"
    if mode == "root":
        return [], sys.executable
    tool = "setpriv" if mode == "unprivileged" else "capsh"
    if shutil.which(tool) is None:
        return f"{tool} is not installed (apt-get install util-linux libcap2-bin)"
    prefix = [tool, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] \
        if mode == "unprivileged" else [tool, "--drop=cap_sys_admin", "--"]
    if mode == "no-cap-sys-admin":
        probe = subprocess.run([*prefix, "-c", "grep CapEff /proc/self/status"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            return f"capsh cannot drop CAP_SYS_ADMIN here: {probe.stderr.strip()[:200]}"
        prefix = [*prefix, "-c", 'exec "$@"', "capsh"]
    python = _python_for(prefix)
    if python is None:
        return f"no Python {sys.version_info[0]}.{sys.version_info[1]} that uid {NOBODY} may run"
    return prefix, python


def run_mode(mode: str, stats: Path, guards: str = "off", only: str | None = None) -> dict:
    """The harness's report in `mode` (skips the test when the mode cannot be had)."""
    found = _mode(mode)
    if isinstance(found, str):
        pytest.skip(found)
    prefix, python = found
    paths = [p for p in sys.path if os.path.isabs(p) and os.path.isdir(p)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.pathsep.join(paths),
           "HOME": "/tmp" if mode == "unprivileged" else os.environ.get("HOME", "/tmp")}
    command = [*prefix, python, str(HARNESS), "--stats", str(stats), "--guards", guards]
    done = subprocess.run(command + (["--only", only] if only else []), cwd=stats.parent,
                          env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _check(report: dict) -> None:
    broken = [f"{r['program']}: {'; '.join(r['effects'])}" for r in report["rows"]
              if not r["held"]]
    if not report["isolated"]:  # may fail to contain, but must not have claimed otherwise
        pytest.skip(f"no OS boundary here: {report['isolation']}")
    assert not broken, "\n".join(broken)
    assert report["statistics_intact"]
    assert len(report["rows"]) >= 70


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["root", "unprivileged", "no-cap-sys-admin"])
def test_every_hostile_program_is_contained_by_the_os_layer_alone(mode, shared_stats):
    report = run_mode(mode if os.geteuid() == 0 else "current", shared_stats)
    if mode != "root" and os.geteuid() != 0:
        pytest.skip(f"the {mode} mode needs root to switch users")
    assert report["user"] == ("nobody" if mode == "unprivileged" else "root")
    _check(report)
