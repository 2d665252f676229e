"""The parent's side of the OS boundary: what isolation this machine gives, stated before
any candidate runs, and the refusal when it falls short.

``probe_isolation`` starts the worker in probe mode (``worker.py --probe``: the boundary
alone, no torch, about a tenth of a second) and reads what its ``verify`` observed.
``require_isolation`` refuses with one line when a requirement does not hold, unless the
user allowed it (``--allow-unisolated``, or ``TAPQ_ALLOW_UNISOLATED=1``, which worker
processes of a pool or Ray inherit). Every worker checks again for itself and stops
before the candidate's code when the boundary is missing and not allowed, so no path
around this module runs generated code unisolated.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tapq.errors import TapqError

__all__ = ["ALLOW_ENV", "Isolation", "allow_unisolated", "import_paths", "outside_folders",
           "probe_isolation",
           "require_isolation", "unisolated_allowed", "worker_env"]

WORKER = Path(__file__).with_name("worker.py")
ALLOW_ENV = "TAPQ_ALLOW_UNISOLATED"


@dataclass(frozen=True)
class Isolation:
    """What a worker's boundary held, as observed by isolation.verify.

    Attributes:
        mechanisms: the layers in force (e.g. "user+mount+network namespaces").
        missing: requirement -> what got through, for each that did not hold.
        problems: why a layer could not be applied.
        seconds: what building and verifying the boundary cost the worker.
    """

    mechanisms: tuple[str, ...] = ()
    missing: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def isolated(self) -> bool:
        return not self.missing

    @classmethod
    def from_report(cls, report: dict) -> "Isolation":
        return cls(tuple(report.get("mechanisms", ())), dict(report.get("missing", {})),
                   tuple(report.get("problems", ())), float(report.get("seconds", 0.0)))

    def describe(self) -> str:
        """One line for outputs: the level and how it was had (or what is missing)."""
        layers = ", ".join(self.mechanisms) or "none"
        if self.isolated:
            return f"isolated ({layers}, resource limits, empty environment)"
        missing = "; ".join(f"{k}: {v}" for k, v in self.missing.items())
        return f"NOT ISOLATED (missing {missing}; layers: {layers})"


def unisolated_allowed() -> bool:
    return os.environ.get(ALLOW_ENV, "") not in ("", "0")


def allow_unisolated() -> None:
    """Allow candidates to run without the boundary, in this process and its children."""
    os.environ[ALLOW_ENV] = "1"


def worker_env(scratch: Path) -> dict[str, str]:
    """The worker's whole environment, built from nothing: no variable of ours (API keys,
    tokens, proxies) is passed on."""
    one = "1"
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": str(scratch), "TMPDIR": str(scratch), "PYTHONDONTWRITEBYTECODE": one,
            "OMP_NUM_THREADS": one, "MKL_NUM_THREADS": one, "OPENBLAS_NUM_THREADS": one,
            "NUMEXPR_NUM_THREADS": one, "VECLIB_MAXIMUM_THREADS": one}


def outside_folders(*more: str | Path) -> list[str]:
    """Folders of ours a worker must neither list nor write: our working folder, the
    user's home, and `more`."""
    folders = [os.getcwd(), os.path.expanduser("~"), *map(str, more)]
    return sorted({os.path.realpath(f) for f in folders if os.path.isdir(f)})


def import_paths() -> list[str]:
    """Our sys.path as the worker needs it: absolute entries, without our working folder
    and the home folder (``python -m`` puts the working folder first; the jail would show
    all of it), which hold nothing a worker imports from in an installed tapq."""
    private = {os.path.realpath(f) for f in (os.getcwd(), os.path.expanduser("~"))}
    return [p for p in sys.path if os.path.isabs(p) and os.path.realpath(p) not in private]


@functools.lru_cache(maxsize=1)
def probe_isolation() -> Isolation:
    """The isolation a worker gets here (once per process)."""
    scratch = Path(tempfile.mkdtemp(prefix="tapq-scratch-"))
    try:
        if os.geteuid() == 0:
            os.chown(scratch, 65534, 65534)
        job = {"path": import_paths(),
               "outside": outside_folders()}
        done = subprocess.run([sys.executable, "-I", str(WORKER), "--probe"],
                              input=json.dumps(job).encode(), capture_output=True, check=False,
                              cwd=scratch, env=worker_env(scratch), timeout=60)
        report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as error:
        return Isolation(missing={"all": f"the isolation probe failed ({error})"})
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return Isolation.from_report(report)


def require_isolation(allow: bool | None = None) -> Isolation:
    """The isolation here; TapqError (one line) when it falls short and is not allowed.

    Args:
        allow: run without the boundary; None reads ``TAPQ_ALLOW_UNISOLATED``.
    """
    isolation = probe_isolation()
    allowed = unisolated_allowed() if allow is None else allow
    if not isolation.isolated and not allowed:
        missing = "; ".join(f"{k}: {v}" for k, v in isolation.missing.items())
        why = f" ({'; '.join(isolation.problems)})" if isolation.problems else ""
        raise TapqError(f"the sandbox cannot isolate generated code here: {missing}{why}; "
                        "refusing to run it (pass --allow-unisolated to run it anyway)")
    return isolation
