"""Run the hostile corpus in the sandbox and judge each program by its effects on the host.

    python tests/sandbox/host_effects.py --stats STATS.pt [--guards off] [--out FILE.json]

Run as whatever user the test wants to judge (root, nobody through setpriv, root without
CAP_SYS_ADMIN through capsh). A program counts as held only when none of these is
observed after it ran:

- a ``tapq-hostile-pwned`` file in a shared or private place outside the private tmp;
- a change to any file in a folder of ours beside the statistics (a private key, a
  ``.bashrc``, another run's database, the statistics themselves);
- our secret (set in our environment and written in those files) in anything returned;
- a connection accepted by our listeners on 127.0.0.1, ::1, a Unix socket file and an
  abstract Unix socket;
- a signal delivered to us;
- a process left behind (we are a child subreaper, so orphans of the worker become ours);
- a different table from a reference candidate run after it (the statistics it sees);
- ``HOST-EFFECT:`` opening the program's own report of an attack that succeeded.

With ``--guards off`` the static screen, the safe builtins and the guarded imports are all
off: the OS boundary alone stands in front of the code. Writes one JSON object: the
isolation observed and one row per program.
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOSTILE = sorted((HERE / "hostile").glob("*.py"))
SECRET = "sk-test-secret-7f3a"
CANARY = "tapq-hostile-pwned"
REFERENCE = ("def sensitivity(layer, bits):\n"
             "    return float(layer.weight.abs().sum()) / bits\n")
PR_SET_CHILD_SUBREAPER = 36


class Listeners:
    """TCP (IPv4, IPv6), Unix-file and abstract-Unix listeners counting what they accept."""

    def __init__(self, folder: Path):
        self.accepted = 0
        self.sockets = []
        tcp = socket.create_server(("127.0.0.1", 0))
        self.port = tcp.getsockname()[1]
        self.sockets.append(tcp)
        try:
            self.sockets.append(socket.create_server(("::1", self.port),
                                                     family=socket.AF_INET6))
        except OSError:
            pass
        for address in (str(folder / "listen.sock"), f"\0tapq-harness-{self.port}"):
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.bind(address)
            unix.listen()
            self.sockets.append(unix)
        for sock in self.sockets:
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                connection, _ = sock.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()


def _digest_folder(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def _canary_places(folder: Path) -> list[Path]:
    import torch

    import tapq.sandbox

    home = Path(pwd.getpwuid(os.geteuid()).pw_dir)
    places = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/", "/root", "/home",
              home, folder, Path.cwd(), Path(tapq.sandbox.__file__).parent,
              Path(torch.__file__).parent, sys.prefix]
    return [Path(p) for p in dict.fromkeys(map(str, places))]


def _orphans() -> list[int]:
    """Processes whose parent is us (orphans re-parented to this subreaper), reaped."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry.name))
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
    return found


def _program(path: Path, folder: Path, port: int) -> str:
    code = path.read_text()
    for name, value in (("HARNESS_DIR", repr(str(folder))), ("HARNESS_PORT", str(port)),
                        ("HARNESS_PID", str(os.getpid()))):
        code = re.sub(rf"^{name} = .*$", f"{name} = {value}", code, flags=re.MULTILINE)
    return code


# --- running the harness as another user ---------------------------------------------------
NOBODY = 65534
MODES = ("root", "unprivileged", "no-cap-sys-admin")


def _environment(mode: str) -> dict[str, str]:
    """The harness's environment: our import path (so it runs the tapq under test)."""
    paths = [p for p in sys.path if os.path.isabs(p) and os.path.isdir(p)]
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join(paths),
            "HOME": "/tmp" if mode == "unprivileged" else os.environ.get("HOME", "/tmp")}


def _python_for(prefix: list[str], env: dict[str, str]) -> str | None:
    """An interpreter `prefix` (a user switch) can run, start again by its sys.executable
    (as the sandbox does), and import torch and tapq with: ours, or the system's with our
    import path. None when that user may not read our install (a venv below a 0700
    folder, say)."""
    check = ("import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True); "
             "import torch, tapq; print(tuple(sys.version_info[:2]))")
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for python in (sys.executable, f"/usr/bin/python{version}", "/usr/bin/python3"):
        if python and os.path.exists(python) and subprocess.run(
                [*prefix, python, "-c", check], capture_output=True, text=True, env=env,
                cwd="/", check=False).stdout.strip() == str(tuple(sys.version_info[:2])):
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
                               capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            return f"capsh cannot drop CAP_SYS_ADMIN here: {probe.stderr.strip()[:200]}"
        prefix = [*prefix, "-c", 'exec "$@"', "capsh"]
    python = _python_for(prefix, _environment(mode))
    if python is None:
        return (f"no Python {sys.version_info[0]}.{sys.version_info[1]} with torch and tapq "
                f"that {mode} may run (is {sys.prefix} readable by uid {NOBODY}?)")
    return prefix, python


def run_mode(mode: str, stats: Path, guards: str = "off", only: str | None = None
             ) -> dict | str:
    """This harness's report, run as `mode` (root, unprivileged, no-cap-sys-admin or
    current) on `stats` (a file that user may read); or why the mode cannot be had here."""
    found = _mode(mode)
    if isinstance(found, str):
        return found
    prefix, python = found
    env = _environment(mode)
    command = [*prefix, python, str(Path(__file__).resolve()), "--stats", str(stats),
               "--guards", guards, *(["--only", only] if only else [])]
    done = subprocess.run(command, cwd=stats.parent, env=env, capture_output=True, text=True,
                          timeout=1500, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the harness failed as {mode}: {done.stderr[-3000:]}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", required=True)
    parser.add_argument("--guards", choices=("on", "off"), default="off")
    parser.add_argument("--only", help="comma-separated program names")
    parser.add_argument("--out", default="-")
    args = parser.parse_args()
    from tapq.sandbox import Sandbox, SandboxLimits, probe_isolation

    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signals: list[int] = []
    for number in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGTERM):
        signal.signal(number, lambda n, f: signals.append(n))
    os.environ.update(OPENAI_API_KEY=SECRET, TAPQ_TEST_TOKEN=SECRET)
    folder = Path(tempfile.mkdtemp(prefix="tapq-host-"))
    for name in ("id_rsa", ".bashrc", "run.db"):
        (folder / name).write_text(f"private {name}: {SECRET}\n")
    stats = folder / "stats.pt"
    stats.write_bytes(Path(args.stats).read_bytes())
    listeners = Listeners(folder)
    places = _canary_places(folder)
    limits = SandboxLimits(wall_seconds=4, cpu_seconds=2, memory_mb=512)
    box = Sandbox(stats, [2, 4, 8], limits, guards=args.guards == "on",
                  allow_unisolated=True)  # judged by effects; the isolation is reported
    reference = box.table(REFERENCE).table
    names = set(args.only.split(",")) if args.only else None
    rows = []
    for path in HOSTILE:
        if names and path.stem not in names:
            continue
        before, accepted, signalled = _digest_folder(folder), listeners.accepted, len(signals)
        start = time.monotonic()
        result = box.table(_program(path, folder, listeners.port))
        seconds = time.monotonic() - start
        time.sleep(0.05)  # let a connection or a signal in flight arrive
        effects = []
        if result.error.startswith("ValueError: HOST-EFFECT:"):
            effects.append("the program reports: " + result.error[24:150])
        if SECRET in result.error:
            effects.append("our secret in its error")
        pwned = [str(p / CANARY) for p in places if os.path.lexists(p / CANARY)]
        for canary in pwned:
            Path(canary).unlink(missing_ok=True)
        if pwned:
            effects.append(f"files: {', '.join(pwned)}")
        changed = [n for n, d in _digest_folder(folder).items() if before.get(n) != d]
        if changed or set(before) != set(_digest_folder(folder)):
            effects.append(f"our files changed: {changed or 'added/removed'}")
        if listeners.accepted > accepted:
            effects.append(f"{listeners.accepted - accepted} connection(s) accepted")
        if len(signals) > signalled:
            effects.append(f"signals received: {signals[signalled:]}")
        orphans = _orphans()
        if orphans:
            effects.append(f"{len(orphans)} process(es) outlived the candidate")
        after = box.table(REFERENCE).table if path.stem in ("os_tamper_stats",
                                                              "mutate_stats") else reference
        if after is None or (after != reference).any():
            effects.append("the next candidate saw different statistics")
        rows.append({"program": path.stem, "status": result.status,
                     "error": result.error[:300], "seconds": round(seconds, 2),
                     "effects": effects, "held": not effects})
    final = box.table(REFERENCE).table
    isolation = probe_isolation()
    report = {"user": pwd.getpwuid(os.geteuid()).pw_name, "uid": os.geteuid(),
              "guards": args.guards, "isolation": isolation.describe(),
              "isolated": isolation.isolated, "rows": rows,
              "statistics_intact": final is not None and bool((final == reference).all())}
    text = json.dumps(report, indent=1)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
