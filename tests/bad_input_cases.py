"""The bad-input matrix: every tapq command given input it must refuse.

Each case runs the real CLI in a subprocess, in a fresh work folder holding the fixture
files below, and must end with exit status 2, exactly one line on stderr starting with
``tapq: error:``, no traceback anywhere, and the work folder exactly as it was: nothing
written at the output path, no half-written file, no input file modified.

Shared by tests/test_bad_input.py (one test per case) and
benchmarks/reliability_report.py (the table in RELIABILITY.md).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tapq.bench import DEFAULT_BENCH
from tapq.models.registry import SHIPPED_WEIGHTS
from torchvision_standin import write_standin

CASE_TIMEOUT = 120  # seconds; every case must fail at validation, long before this

MODELS_PY = '''"""User model factories for the bad-input cases."""
from torch import nn


def wrong_input():
    """A model for 3-channel images: the 1-channel digits do not fit it."""
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))


def boom():
    raise RuntimeError("this factory needs a GPU")
'''


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: short name, ``command-what``.
        args: the tapq arguments, run in the work folder (paths are relative to it).
        what: what is tried, in words.
        expect: a fragment the one-line error must contain.
        out: the output path the command was asked to write (nothing may appear there).
        pythonpath: a fixture folder put first on PYTHONPATH (e.g. a stand-in package).
    """

    id: str
    args: tuple[str, ...]
    what: str
    expect: str
    out: str | None = None
    pythonpath: str | None = None

    @property
    def command(self) -> str:
        return "tapq " + " ".join(self.args)


def _case(id: str, command: str, what: str, expect: str, out: str | None = None) -> Case:
    return Case(id, tuple(command.split()), what, expect, out)


NO_KEY_URL = "https://example.invalid/v1"

CASES: list[Case] = [
    # --- demo: everything is checked before the first PTQ measurement ----------------------
    _case("demo-generations-0", "demo --generations 0", "zero discovery generations",
          "--generations must be at least 1"),
    _case("demo-llm-unknown", "demo --llm unknown:x", "an LLM spec that names no backend",
          "unknown LLM spec"),
    _case("demo-llm-no-key", "demo --llm openai:gpt-4o-mini",
          "a remote LLM without OPENAI_API_KEY", "OPENAI_API_KEY"),
    _case("demo-out-is-file", "demo --out afile.txt", "a file where the run folder goes",
          "is a file, not a folder"),
    # --- quantize ---------------------------------------------------------------------------
    _case("quantize-weights-of-another-model",
          "quantize --model mnist-cnn --weights digits_cnn.pt --bits 4",
          "mnist-cnn with the digits-cnn checkpoint", "do not fit the model"),
    _case("quantize-weights-corrupt", "quantize --model digits-cnn --weights notweights.pt "
          "--bits 4", "a text file as the checkpoint", "cannot read weights"),
    _case("quantize-bits-9", "quantize --model digits-cnn --bits 9", "9-bit weights",
          "bit-width 9 is not supported"),
    _case("quantize-bits-not-a-number", "quantize --model digits-cnn --bits four",
          "a word for --bits (argparse)", "invalid int value"),
    _case("quantize-config-malformed", "quantize --model digits-cnn --config malformed.json",
          "a bit configuration that is not JSON", "is not valid JSON"),
    _case("quantize-config-unknown-layers", "quantize --model digits-cnn --config "
          "unknown_layers.json", "a configuration naming layers the model lacks",
          "not in the model: conv9"),
    _case("quantize-config-is-a-folder", "quantize --model digits-cnn --config adir",
          "a folder as the configuration file", "cannot read configuration"),
    _case("quantize-config-not-utf8", "quantize --model digits-cnn --config latin1.json",
          "a configuration in Latin-1", "cannot read configuration"),
    _case("quantize-calib-size-0", "quantize --model digits-cnn --bits 4 --calib-size 0",
          "no calibration images", "--calib-size must be at least 1"),
    _case("quantize-save-config-no-folder", "quantize --model digits-cnn --bits 4 "
          "--save-config nodir/bits.json", "--save-config in a folder that does not exist",
          "does not exist; create it first", out="nodir/bits.json"),
    _case("quantize-save-model-is-a-folder", "quantize --model digits-cnn --bits 4 "
          "--save-model adir", "--save-model naming a folder", "is a folder", out="adir"),
    _case("quantize-factory-wrong-input", "quantize --model models.py:wrong_input --data "
          "digits --bits 4", "a user model for 3-channel images on 1-channel digits",
          "does not run on digits inputs"),
    _case("quantize-factory-raises", "quantize --model models.py:boom --data digits --bits 4",
          "a model factory that raises", "model factory 'models.py:boom' failed"),
    _case("quantize-factory-syntax-error", "quantize --model badsyntax.py:build --data "
          "digits --bits 4", "a model file with a syntax error", "cannot import"),
    # --- users' data: every mistake in --data and the subset flags --------------------------
    _case("quantize-data-imagefolder-missing", "quantize --model digits-cnn --data "
          "imagefolder:nodir --bits 4", "an image folder that does not exist",
          "image folder not found: nodir"),
    _case("quantize-data-imagefolder-empty", "quantize --model digits-cnn --data "
          "imagefolder:adir --bits 4", "an empty image folder", "holds no class folders"),
    _case("quantize-data-imagefolder-corrupt", "quantize --model digits-cnn --data "
          "imagefolder:corruptimages --bits 4", "an image folder holding a broken PNG",
          "cannot decode image corruptimages/cat/"),
    _case("quantize-eval-n-0", "quantize --model digits-cnn --bits 4 --eval-n 0",
          "an empty evaluation subset", "--eval-n must be at least 1"),
    _case("layers-data-option-not-a-number", "layers --model digits-cnn --data "
          "imagefolder:adir?resize=abc", "an image option that is not a number",
          "resize='abc'"),
    _case("layers-data-unknown-option", "layers --model digits-cnn --data digits?colour=1",
          "an option the data source does not take", "unknown option 'colour'"),
    _case("allocate-data-unknown-factory", "allocate --model digits-cnn --proxy size "
          "--budget avg-bits=4 --data userdata.py:nosuch", "a data factory the file lacks",
          "has no callable 'nosuch'"),
    _case("compare-data-factory-junk", "compare --model digits-cnn --budget avg-bits=4 "
          "--proxies size --data userdata.py:junk", "a data factory returning a list",
          "returned list"),
    _case("bench-build-eval-n-too-many", "bench build --model digits-cnn --out new.db "
          "--eval-n 5000", "more evaluation examples than the data holds",
          "more examples than its eval split holds", out="new.db"),
    _case("quantize-device-cuda-absent", "quantize --model digits-cnn --bits 4 --device cuda:99",
          "a CUDA device the machine lacks (on a CPU build: no CUDA at all); fails before "
          "the model loads", "--device cuda:99: "),
    _case("compare-device-unknown", "compare --model digits-cnn --budget avg-bits=4 "
          "--proxies size --device tpu", "a device torch does not know",
          "not a device; use cpu, cuda or cuda:N"),
    # --- layers -----------------------------------------------------------------------------
    _case("layers-missing-module", "layers --model nosuchpkg.nets:build --data digits",
          "a factory in a package that is not installed", "cannot import 'nosuchpkg.nets'"),
    _case("layers-empty-module-name", "layers --model :build --data digits",
          "a model spec with no module", "names no module"),
    # torchvision cannot be installed next to this torch: the missing case is real here
    # (and left out where torchvision is installed); the unknown name uses a stand-in.
    *([_case("layers-torchvision-missing", "layers --model torchvision:resnet18 --data digits",
             "a torchvision model without torchvision installed",
             "needs torchvision, which is not installed: pip install torchvision")]
      if importlib.util.find_spec("torchvision") is None else []),
    Case("layers-torchvision-unknown", ("layers", "--model", "torchvision:resnet9000",
                                        "--data", "digits"),
         "a model name torchvision does not have (stand-in torchvision)",
         "torchvision has no model 'resnet9000'", pythonpath="standin"),
    # --- train ------------------------------------------------------------------------------
    _case("train-unknown-model", "train resnet", "a model that is not built in",
          "no built-in model"),
    _case("train-out-is-file", "train digits-cnn --out afile.txt",
          "a file where the checkpoint folder goes (fails before training)",
          "is a file, not a folder"),
    # --- bench build: every check before the first measurement, no empty .db left -----------
    _case("bench-build-workers-0", "bench build --model digits-cnn --out new.db --workers 0",
          "zero worker processes", "--workers must be at least 1", out="new.db"),
    _case("bench-build-configs-0", "bench build --model digits-cnn --out new.db --configs 0",
          "zero sampled configurations", "--configs must be at least 1", out="new.db"),
    _case("bench-build-calib-size-0", "bench build --model digits-cnn --out new.db "
          "--calib-size 0", "no calibration images", "--calib-size must be at least 1",
          out="new.db"),
    _case("bench-build-seed-negative", "bench build --model digits-cnn --out new.db --seed -1",
          "a negative sampling seed", "--seed must be at least 0", out="new.db"),
    _case("bench-build-out-no-folder", "bench build --model digits-cnn --out nodir/new.db",
          "--out in a folder that does not exist", "does not exist; create it first",
          out="nodir/new.db"),
    _case("bench-build-out-is-a-folder", "bench build --model digits-cnn --out adir",
          "--out naming a folder", "is a folder", out="adir"),
    _case("bench-build-out-not-sqlite", "bench build --model digits-cnn --out text.db",
          "--out naming a text file (left untouched)", "not a tapq benchmark database"),
    _case("bench-build-out-other-settings", "bench build --model digits-cnn --out "
          "bench_copy.db", "--out naming a benchmark built with other settings",
          "built with different settings"),
    # --- bench info -------------------------------------------------------------------------
    _case("bench-info-truncated", "bench info truncated.db",
          "the first 4 KB of the shipped benchmark", "not a tapq benchmark database"),
    _case("bench-info-random-bytes", "bench info random.db", "4 KB of random bytes",
          "not a tapq benchmark database"),
    _case("bench-info-text-file", "bench info text.db", "a text file named .db",
          "not a tapq benchmark database"),
    _case("bench-info-empty-file", "bench info empty.db", "an empty file",
          "not a tapq benchmark database"),
    _case("bench-info-other-sqlite", "bench info other.db", "an SQLite file of another "
          "program (left unmodified)", "not a tapq benchmark database"),
    # --- bench remeasure: refused before anything is measured or written --------------------
    _case("bench-remeasure-limit-0", "bench remeasure bench_copy.db --limit 0",
          "zero configurations to remeasure", "--limit must be at least 1"),
    _case("bench-remeasure-text-file", "bench remeasure text.db", "a text file named .db",
          "not a tapq benchmark database"),
    _case("bench-remeasure-other-sqlite", "bench remeasure other.db", "an SQLite file of "
          "another program (left unmodified)", "not a tapq benchmark database"),
    # --- proxy ------------------------------------------------------------------------------
    _case("proxy-stats-unknown-statistic", "proxy stats --model digits-cnn --stats hessian",
          "a statistic that does not exist", "unknown statistic hessian"),
    _case("proxy-stats-zero-images", "proxy stats --model digits-cnn --stats-n 0",
          "statistics on no images", "--stats-n must be at least 1"),
    _case("quantize-photos-bad-norm", "quantize --model digits-cnn --bits 4 --data "
          "photos?norm=zzz", "an unknown photos normalisation", "norm=zzz"),
    _case("proxy-list-extra-argument", "proxy list hawq_v2",
          "an argument proxy list does not take (argparse)", "unrecognized arguments"),
    _case("proxy-eval-not-utf8", "proxy eval --proxy latin1.py", "a proxy file in Latin-1",
          "cannot read proxy file"),
    _case("proxy-eval-syntax-error", "proxy eval --proxy syntax.py",
          "a proxy file with a syntax error", "has a syntax error"),
    _case("proxy-eval-no-sensitivity", "proxy eval --proxy nosens.py",
          "a proxy file defining sensitivity_helper but no sensitivity",
          "defines no function sensitivity"),
    _case("proxy-eval-bench-other-sqlite", "proxy eval --bench other.db",
          "an SQLite file of another program as benchmark", "not a tapq benchmark database"),
    # --- allocate ---------------------------------------------------------------------------
    _case("allocate-avg-bits-1", "allocate --model digits-cnn --proxy size "
          "--budget avg-bits=1", "an average of 1 bit (below the 2-bit minimum)",
          "no configuration fits"),
    _case("allocate-size-mb-0", "allocate --model digits-cnn --proxy size --budget size-mb=0",
          "a zero size budget", "must be positive"),
    _case("allocate-bitops-negative", "allocate --model digits-cnn --proxy size "
          "--budget bitops=-5", "a negative BitOps budget", "must be positive"),
    _case("allocate-avg-bits-abc", "allocate --model digits-cnn --proxy size "
          "--budget avg-bits=abc", "a budget that is not a number", "is not a number"),
    _case("allocate-avg-bits-nan", "allocate --model digits-cnn --proxy size "
          "--budget avg-bits=nan", "a NaN budget", "is not a number"),
    _case("allocate-proxy-raises", "allocate --model digits-cnn --proxy raises.py "
          "--budget avg-bits=4", "a proxy file whose sensitivity raises", "proxy raises failed"),
    _case("allocate-out-no-folder", "allocate --model digits-cnn --proxy size --budget "
          "avg-bits=4 --out nodir/bits.json", "--out in a folder that does not exist",
          "does not exist; create it first", out="nodir/bits.json"),
    _case("allocate-tie-unknown-layer", "allocate --model digits-cnn --proxy size --budget "
          "avg-bits=4 --tie conv1.0,conv9", "tying a layer the model lacks",
          "not in the model: conv9"),
    _case("allocate-epochs-0", "allocate --model digits-cnn --proxy size --budget avg-bits=4 "
          "--finetune qat --epochs 0", "fine-tuning for zero epochs",
          "--epochs must be at least 1"),
    # --- compare: the oracle's benchmark is checked before anything is measured -------------
    _case("compare-bench-truncated", "compare --model digits-cnn --budget avg-bits=4 "
          "--proxies size --bench truncated.db", "a truncated benchmark for the oracle row",
          "not a tapq benchmark database"),
    _case("compare-bench-of-another-model", "compare --model digits-cnn --budget avg-bits=4 "
          "--proxies size --bench bench_copy.db", "the mnist-cnn benchmark for digits-cnn",
          "is of another model"),
    _case("bench-list-extra", "bench list extra.db", "an argument bench list does not take",
          "unrecognized arguments"),
    # --- discover: nothing is created in --out when the run cannot start --------------------
    _case("discover-llm-unknown", "discover --out run --llm unknown:x",
          "an LLM spec that names no backend", "unknown LLM spec", out="run"),
    Case("discover-llm-no-key", ("discover", "--out", "run", "--llm", "openai:gpt",
                                 "--llm-base-url", NO_KEY_URL),
         "a remote LLM endpoint without OPENAI_API_KEY (fails fast)", "$OPENAI_API_KEY",
         out="run"),
    _case("discover-generations-0", "discover --out run --generations 0",
          "zero generations", "--generations must be at least 1", out="run"),
    _case("discover-seed-negative", "discover --out run --seed -1", "a negative seed",
          "--seed must be at least 0", out="run"),
    _case("discover-bench-truncated", "discover --out run --bench truncated.db",
          "a truncated benchmark", "not a tapq benchmark database", out="run"),
    _case("discover-bench-unknown", "discover --out run --bench nosuch",
          "a benchmark that is neither a file nor a shipped one", "benchmark not found: nosuch",
          out="run"),
    _case("discover-bench-twice", "discover --out run --bench bench_copy.db --bench "
          "./bench_copy.db", "the same benchmark twice (fitness would count it twice)",
          "is given twice", out="run"),
    _case("discover-transfer-unknown", "discover --out run --transfer nosuch",
          "a transfer benchmark that does not exist", "benchmark not found: nosuch",
          out="run"),
    _case("discover-out-other-settings", "discover --out oldrun --resume",
          "--resume on a run started with another seed", "started with other settings"),
    _case("discover-out-existing-run", "discover --out oldrun",
          "--out naming an existing run without --resume", "already holds a run"),
    _case("discover-resume-corrupt-db", "discover --out corruptrun --resume",
          "--resume on a folder whose run.db is random bytes", "not a tapq run database"),
    _case("discover-out-is-file", "discover --out afile.txt",
          "a file where the run folder goes", "is a file, not a folder"),
    _case("discover-replay-missing", "discover --out run --replay norun",
          "--replay of a folder with no run", "nothing to replay", out="run"),
    # --- report -----------------------------------------------------------------------------
    _case("report-folder-without-run", "report emptyrun", "a folder with no run.db",
          "no discovery run", out="emptyrun/report.html"),
    _case("report-bench-truncated", "report --bench truncated.db", "a truncated benchmark",
          "not a tapq benchmark database", out="truncated.report.html"),
    _case("report-out-no-folder", "report --bench bench_copy.db --out nodir/report.html",
          "--out in a folder that does not exist", "does not exist; create it first",
          out="nodir/report.html"),
    _case("report-out-is-a-folder", "report --bench bench_copy.db --out adir",
          "--out naming a folder", "is a folder", out="adir"),
]


def make_fixtures(folder: Path) -> None:
    """Write every input file the cases name into `folder`."""
    from tapq.discover import CandidateRecord, DiscoverConfig, RunStore, SearchConfig, Status

    folder.mkdir(parents=True, exist_ok=True)
    bench = DEFAULT_BENCH.read_bytes()
    (folder / "truncated.db").write_bytes(bench[:4096])
    (folder / "bench_copy.db").write_bytes(bench)
    (folder / "random.db").write_bytes(random.Random(0).randbytes(4096))
    (folder / "text.db").write_text("this is not a database\n")
    (folder / "empty.db").write_bytes(b"")
    other = sqlite3.connect(folder / "other.db")
    other.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    other.execute("INSERT INTO notes VALUES (1, 'not a benchmark')")
    other.commit()
    other.close()
    shutil.copy(SHIPPED_WEIGHTS / "digits_cnn.pt", folder / "digits_cnn.pt")
    (folder / "notweights.pt").write_text("not a checkpoint\n")
    (folder / "malformed.json").write_text('{"w": {"conv1.0": 4,\n')
    (folder / "unknown_layers.json").write_text('{"w": {"conv1.0": 4, "conv9": 4}}\n')
    (folder / "latin1.json").write_bytes(b'{"model": "caf\xe9", "w": {}}\n')
    (folder / "latin1.py").write_bytes(b"# caf\xe9\ndef sensitivity(layer, bits):\n"
                                       b"    return 1.0 / bits\n")
    (folder / "syntax.py").write_text("def sensitivity(layer, bits):\n    return (1.0 / bits\n")
    (folder / "nosens.py").write_text("def sensitivity_helper(layer, bits):\n    return 1.0\n")
    (folder / "raises.py").write_text("def sensitivity(layer, bits):\n"
                                      "    raise ValueError('no sensitivity today')\n")
    (folder / "models.py").write_text(MODELS_PY)
    write_standin(folder / "standin")
    (folder / "badsyntax.py").write_text("def build(:\n    pass\n")
    (folder / "afile.txt").write_text("a file, not a folder\n")
    (folder / "userdata.py").write_text("def junk():\n    return [1, 2, 3]\n")
    (folder / "corruptimages" / "cat").mkdir(parents=True)
    for i in range(3):
        (folder / "corruptimages" / "cat" / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (folder / "adir").mkdir()
    (folder / "emptyrun").mkdir()
    corrupt = folder / "corruptrun"
    corrupt.mkdir()
    (corrupt / "run.db").write_bytes(random.Random(1).randbytes(8192))
    # A started run (one candidate) whose settings differ from the defaults by its seed.
    old = folder / "oldrun"
    old.mkdir()
    store = RunStore(old / "run.db")
    store.set_meta(config=DiscoverConfig(search=SearchConfig(seed=99)).resume_key(), started=0.0)
    store.add_candidate(CandidateRecord(generation=0, slot=0, operator="init", hint="hint",
                                        parents=[], prompt=[], response="", thought="",
                                        code=None, code_hash=None, status=Status.NO_CODE,
                                        error="no code"))
    store.close()


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` with the SHA-256 of its content ("dir" for folders)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        found[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def case_env(case: Case | None = None, workdir: Path | None = None) -> dict:
    """The environment of a case: no API key, no bytecode files, one torch thread, and
    the case's fixture folder first on PYTHONPATH if it names one."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    if case is not None and case.pythonpath and workdir is not None:
        paths = [str(workdir / case.pythonpath), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


@dataclass
class Outcome:
    """What a case did and every way it broke the rule (empty `problems`: it held)."""

    case: Case
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        lines = error_lines(self.stderr)
        return lines[0] if lines else ""


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


# The line a finished long step leaves on a non-terminal stderr (tapq.progress._log_line),
# e.g. "layer statistics: 5/5 in 3.1 s": progress, printed only when the step ran (a cold
# statistics cache), so it may precede an error without being part of it.
PROGRESS_LINE = re.compile(r"^(?!tapq: error: ).+: \d+(/\d+)? in \d+\.\d s$")


def error_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that are not progress lines."""
    return [line for line in stderr.strip().splitlines() if not PROGRESS_LINE.match(line)]


def run_case(case: Case, workdir: Path, timeout: float = CASE_TIMEOUT) -> Outcome:
    """Run `case` in `workdir` (which must hold the fixtures) and check the rule."""
    before = snapshot(workdir)
    start = time.perf_counter()
    try:
        result = subprocess.run([sys.executable, "-m", "tapq.cli", *case.args],
                                capture_output=True, text=True, cwd=workdir, timeout=timeout,
                                env=case_env(case, workdir))
        code, stdout, stderr = result.returncode, result.stdout, result.stderr
    except subprocess.TimeoutExpired as expired:  # its output may come undecoded
        code, stdout, stderr = None, _text(expired.stdout), _text(expired.stderr)
    seconds = time.perf_counter() - start
    problems = []
    lines = error_lines(stderr)
    if code is None:
        problems.append(f"still running after {timeout:.0f} s (not validated early)")
    elif code != 2:
        problems.append(f"exit status {code}, not 2")
    if "Traceback" in stdout + stderr:
        problems.append("a traceback")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, not 1")
    elif not lines[0].startswith("tapq: error: "):
        problems.append("stderr does not start with 'tapq: error: '")
    if case.expect not in stderr:
        problems.append(f"the message lacks {case.expect!r}")
    after = snapshot(workdir)
    if case.out and case.out not in before and (workdir / case.out).exists():
        problems.append(f"{case.out} was created")
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        problems.append(f"the work folder changed: {', '.join(changed[:4])}")
    return Outcome(case, code, stdout, stderr, seconds, problems)


def run_cases(cases: Sequence[Case], base: Path, workers: int = 2) -> dict[str, Outcome]:
    """Run `cases`, each in its own copy of the fixtures under `base`, `workers` at a
    time (each is a separate process, mostly importing torch); outcomes by case id."""
    fixtures = base / "fixtures"
    make_fixtures(fixtures)

    def one(case: Case) -> Outcome:
        workdir = base / case.id
        shutil.copytree(fixtures, workdir)
        return run_case(case, workdir)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return {outcome.case.id: outcome for outcome in pool.map(one, cases)}
