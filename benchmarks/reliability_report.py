"""Regenerate RELIABILITY.md: what tapq does with bad input, hostile code and a failing LLM.

    python benchmarks/reliability_report.py            # writes RELIABILITY.md (~4-5 min, 2 cores)
    python benchmarks/reliability_report.py --out -    # print it instead

Three parts, each one table, each from the same cases the test suite runs:
1. the bad-input matrix (tests/bad_input_cases.py): every CLI command in a subprocess,
   without an API key; each must exit 2 with one line on stderr and write nothing;
2. the hostile-candidate corpus (tests/sandbox/hostile/*.py) in the sandbox, on the
   digits-cnn statistics, under the limits tests/sandbox/test_sandbox.py uses; then the
   same corpus judged by its effects on the host (tests/sandbox/host_effects.py) as root,
   as nobody and as root without CAP_SYS_ADMIN, with the language-level checks off (the
   OS boundary alone) and on, one table per mode with the isolation it got;
3. LLM faults against a loopback OpenAI-compatible server (tests/discover/fake_openai.py):
   each fault once then an answer (must be retried to the answer), and each persistent
   (must end in one line of LLMError after the retries, quickly);
4. processes killed while working -- a pool or Ray worker mid-job, the whole benchmark
   build, the whole discovery run: the tests that do it, run here by pytest.
"""
from __future__ import annotations

import argparse
import datetime
import os
import xml.etree.ElementTree as ElementTree
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "discover"),
                str(ROOT / "tests" / "sandbox")]

import bad_input_cases  # noqa: E402  (the shared case table)

COMMAND = "python benchmarks/reliability_report.py"


@dataclass(frozen=True)
class Row:
    """One line of a table: the case, what it tried, what happened, why, how long."""

    case: str
    tried: str
    outcome: str
    message: str
    seconds: float
    ok: bool


# ---- 1. bad input --------------------------------------------------------------------------

def bad_input_rows(workers: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="tapq-bad-input-") as folder:
        outcomes = bad_input_cases.run_cases(bad_input_cases.CASES, Path(folder), workers)
    rows = []
    for case in bad_input_cases.CASES:
        outcome = outcomes[case.id]
        status = f"exit {outcome.returncode}, 1 line, nothing written" if outcome.ok \
            else "FAILED: " + "; ".join(outcome.problems)
        rows.append(Row(case.id, f"`{case.command}`: {case.what}", status, outcome.message,
                        outcome.seconds, outcome.ok))
    return rows


# ---- 2. hostile candidates -----------------------------------------------------------------

def hostile_rows() -> list[Row]:
    import test_sandbox as corpus  # its corpus, header format, limits and secret

    from tapq.data import load_data
    from tapq.sandbox import Sandbox, save_stats_for_sandbox
    from tapq.models import load_model
    from tapq.proxies import model_stats

    stats = model_stats(load_model("digits-cnn"), load_data("digits"))
    saved = {key: os.environ.get(key) for key in ("OPENAI_API_KEY", "TAPQ_TEST_TOKEN")}
    os.environ.update(OPENAI_API_KEY=corpus.SECRET, TAPQ_TEST_TOKEN=corpus.SECRET)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="tapq-hostile-") as folder:
            stats_file = Path(folder) / "stats.pt"
            save_stats_for_sandbox(stats, stats_file, corpus.BITS)
            box = Sandbox(stats_file, corpus.BITS, corpus.LIMITS)
            for path in corpus.HOSTILE:
                code = path.read_text()
                expected, what = corpus.HEADER.match(code.splitlines()[0]).groups()
                start = time.monotonic()
                result = box.table(code)
                seconds = time.monotonic() - start
                leaked = corpus.SECRET in result.error
                ok = result.status == expected and not leaked
                outcome = result.status if ok else \
                    f"FAILED: {result.status}, expected {expected}" + (", leaked" if leaked else "")
                rows.append(Row(path.stem, what, outcome, result.error or "(a finite table)",
                                seconds, ok))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return rows


@dataclass(frozen=True)
class ModeRun:
    """The hostile corpus judged by host effects in one user mode and guard setting."""

    mode: str
    guards: str
    isolation: str
    rows: list[Row]
    skipped: str = ""


def mode_runs(guard_settings: tuple[str, ...] = ("off",)) -> list[ModeRun]:
    import host_effects
    import test_sandbox as corpus

    from tapq.data import load_data
    from tapq.models import load_model
    from tapq.proxies import model_stats
    from tapq.sandbox import save_stats_for_sandbox

    stats = model_stats(load_model("digits-cnn"), load_data("digits"))
    runs = []
    with tempfile.TemporaryDirectory(prefix="tapq-modes-") as folder:
        Path(folder).chmod(0o755)  # the other users read the statistics here
        path = Path(folder) / "stats.pt"
        save_stats_for_sandbox(stats, path, corpus.BITS)
        path.chmod(0o644)
        for mode in host_effects.MODES:
            for guards in guard_settings:
                report = host_effects.run_mode(mode, path, guards)
                if isinstance(report, str):
                    runs.append(ModeRun(mode, guards, "-", [], report))
                    continue
                rows = [Row(r["program"], r["status"], "held" if r["held"] else
                            "FAILED: " + "; ".join(r["effects"]), r["error"], r["seconds"],
                            r["held"]) for r in report["rows"]]
                if not report["statistics_intact"]:
                    rows.append(Row("statistics", "the reference table after the corpus",
                                    "FAILED: changed", "", 0.0, False))
                runs.append(ModeRun(mode, guards, report["isolation"], rows))
                print(f"  {mode}, language checks {guards}: {_count(rows)}", file=sys.stderr)
    return runs


def _modes_summary(runs: list[ModeRun]) -> str:
    lines = ["| user mode | language checks | held / total | isolation the sandbox got |",
             "|---|---|---:|---|"]
    for run in runs:
        held = f"skipped: {run.skipped}" if run.skipped else _count(run.rows)
        lines.append(f"| {run.mode} | {run.guards} | {held} | {_cell(run.isolation)} |")
    return "\n".join(lines)


def _modes_tables(runs: list[ModeRun]) -> str:
    parts = []
    for run in runs:
        if run.skipped:
            continue
        failed = [r for r in run.rows if not r.ok]
        parts.append(f"### {run.mode}, language checks {run.guards}: {_count(run.rows)}\n\n"
                     f"Isolation: {run.isolation}\n\n" +
                     (_table(failed, "effects") if failed else
                      "Every program held: no effect observed on the host."))
    return "\n\n".join(parts)


# ---- 3. LLM faults -------------------------------------------------------------------------

def llm_rows() -> list[Row]:
    from fake_openai import FakeOpenAI, Fault

    from tapq.discover.llm import LLMError, OpenAIBackend

    messages = [{"role": "user", "content": "Write def sensitivity(layer, bits)"}]
    faults = [Fault("timeout", 2.0), Fault("status", 429), Fault("status", 500),
              Fault("status", 503), Fault("close"), Fault("truncated"),
              Fault("empty_choices"), Fault("no_content")]
    names = {"timeout": "no answer within the client timeout", "close": "connection closed "
             "without a response", "truncated": "half a JSON body",
             "empty_choices": '`"choices": []`', "no_content": "a message whose content is null"}
    rows = []
    for persistent in (False, True):
        for fault in faults:
            label = f"{fault.kind}-{fault.value:g}" if fault.kind == "status" else fault.kind
            what = f"HTTP {fault.value:g}" if fault.kind == "status" else names[fault.kind]
            what += ", every time" if persistent else ", once, then an answer"

            def responder(request, index, fault=fault, persistent=persistent):
                return fault if persistent or index == 0 else "def sensitivity(layer, bits): ..."

            retries = 2 if persistent else 3
            with FakeOpenAI(responder) as server:
                backend = OpenAIBackend("fake-model", base_url=server.base_url,
                                        timeout=0.3 if persistent else 0.5,
                                        max_retries=retries, backoff_base=0.01,
                                        backoff_max=0.05)
                start = time.perf_counter()
                try:
                    reply = backend.complete(messages, temperature=0.8, max_tokens=64, seed=7)
                    outcome, message = f"answered after {len(server.requests)} requests", \
                        reply.text
                    ok = not persistent and len(server.requests) == 2
                except LLMError as error:
                    message = str(error)
                    outcome = f"LLMError after {len(server.requests)} requests"
                    ok = persistent and len(server.requests) == retries + 1 \
                        and "\n" not in message
                seconds = time.perf_counter() - start
            rows.append(Row(f"{label}-{'persistent' if persistent else 'once'}", what,
                            outcome if ok else f"FAILED: {outcome}", message, seconds, ok))
    return rows


# ---- 4. processes killed while working -----------------------------------------------------

KILLS = [  # (case, test node, what it does and what must hold)
    ("pool-worker-killed", "tests/test_executors.py::"
     "test_a_killed_pool_worker_costs_only_the_work_in_flight",
     "SIGKILL a local pool worker in the middle of a job; every result must come back "
     "exactly once, the dead worker's job run again on a fresh pool"),
    ("pool-worker-always-dies", "tests/test_executors.py::"
     "test_a_job_that_always_kills_its_worker_fails_in_one_line",
     "a job that kills its worker every time: one-line error after the allowed pool "
     "restarts, no result twice"),
    ("ray-worker-killed", "tests/test_executors.py::"
     "test_ray_runs_again_a_task_whose_worker_was_killed",
     "SIGKILL a Ray worker in the middle of a task; Ray runs the task again, every result "
     "exactly once"),
    ("bench-worker-killed", "tests/bench/test_builder.py::"
     "test_a_worker_killed_mid_build_is_replaced_and_nothing_is_lost",
     "`tapq bench build --workers 2`: SIGKILL one pool worker mid-build; the build finishes "
     "by itself with every row once and the numbers of an undisturbed build"),
    ("bench-run-killed", "tests/bench/test_builder.py::"
     "test_killed_build_resumes_to_the_same_rows",
     "SIGKILL the whole `tapq bench build` midway, run it again: exactly the missing rows "
     "are measured, none lost or twice"),
    ("ray-build-stopped", "tests/test_executors.py::"
     "test_stopped_ray_build_resumes_without_measuring_twice",
     "a Ray build stopped after 10 results, then resumed on Ray: equal to the local pool's "
     "rows, no stored result measured again"),
    ("discover-run-killed", "tests/discover/test_discovery.py::"
     "test_a_run_killed_mid_generation_resumes_to_the_same_population",
     "SIGKILL `tapq discover` mid-generation, then `--resume`: nothing finished lost or "
     "asked again, the same final population as an uninterrupted run"),
    ("ctrl-c", "tests/test_cli.py::"
     "test_ctrl_c_stops_with_one_line_and_keeps_what_was_measured",
     "SIGINT (Ctrl-C) to `tapq bench build`: one line, exit 130, no traceback, the results "
     "so far kept, and the rerun finishes the job"),
    ("discover-parallel", "tests/discover/test_discovery.py::"
     "test_parallel_evaluation_scores_exactly_what_one_worker_scores",
     "candidates evaluated on 2 pool workers and on Ray: the same records and population as "
     "one worker, duplicates evaluated once"),
]


def kill_rows() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="tapq-kills-") as folder:
        report = Path(folder) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={report}", *[node for _, node, _ in KILLS]], cwd=ROOT,
                       capture_output=True, text=True)
        cases = {}
        if report.exists():
            for case in ElementTree.parse(report).iter("testcase"):
                name = case.get("name", "")
                problem = next((child for child in case
                                if child.tag in ("failure", "error", "skipped")), None)
                cases[name] = (problem, float(case.get("time", "nan")))
    rows = []
    for label, node, what in KILLS:
        test = node.rpartition("::")[2]
        found = [(problem, seconds) for name, (problem, seconds) in cases.items()
                 if name == test or name.startswith(test + "[")]
        ok = bool(found) and all(problem is None for problem, _ in found)
        if not found:
            outcome, message = "FAILED: did not run", ""
        elif ok:
            outcome, message = f"held ({len(found)} run{'s' * (len(found) > 1)})", node
        else:
            problem = next(p for p, _ in found if p is not None)
            outcome = f"FAILED: {problem.tag}"
            message = (problem.get("message") or "").splitlines()[0] if problem.get(
                "message") else node
        rows.append(Row(label, what, outcome, message, sum(t for _, t in found), ok))
    return rows


# ---- the page ------------------------------------------------------------------------------

def _cell(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text.replace("|", "\\|")


def _table(rows: list[Row], outcome: str) -> str:
    lines = [f"| case | what was tried | {outcome} | message or reason | s |",
             "|---|---|---|---|---:|"]
    lines += [f"| {r.case} | {_cell(r.tried)} | {_cell(r.outcome)} | {_cell(r.message)} "
              f"| {r.seconds:.1f} |" for r in rows]
    return "\n".join(lines)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    load = f", load average {os.getloadavg()[0]:.1f} at the end" if hasattr(os, "getloadavg") \
        else ""
    return (f"{cpu}, {os.cpu_count()} cores visible{load}; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, torch {torch.__version__}")


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" with uncommitted changes" if dirty else "")


def _count(rows: list[Row]) -> str:
    return f"{sum(r.ok for r in rows)}/{len(rows)}"


def render(bad: list[Row], hostile: list[Row], modes: list[ModeRun], llm: list[Row],
           kills: list[Row], wall: float) -> str:
    mode_rows = [r for run in modes for r in run.rows]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# Reliability

Generated by `{COMMAND}` on {date}, in {wall / 60:.1f} min, on {_machine()};
commit {_commit()}. Do not edit by hand: rerun the command.

| part | held |
|---|---:|
| 1. bad input, every command | {_count(bad)} |
| 2. hostile candidates in the sandbox | {_count(hostile)} |
| 2b. the same, judged by host effects, {len([m for m in modes if not m.skipped])} runs (user mode x language checks) | {_count(mode_rows)} |
| 3. LLM faults | {_count(llm)} |
| 4. processes killed while working | {_count(kills)} |

## 1. Bad input, every command

The rule: bad input ends in exactly one line on stderr, `tapq: error: …` (argparse's usage
errors included), exit status 2, no traceback, and nothing written -- the work folder of
each case is compared file by file before and after, so neither a half-written output nor
a modified input passes. Every check comes before the work it guards, so none of these
starts a PTQ sweep, a training or an LLM. Each case is a fresh `python -m tapq.cli`
process (most of its time is importing torch); the cases are in
`tests/bad_input_cases.py` and run by `tests/test_bad_input.py`.

{_table(bad, "outcome")}

## 2. Hostile candidates in the sandbox

Each file in `tests/sandbox/hostile/` is a proxy an LLM (or an attacker) might write; its
first line says what it tries and which status the sandbox must give it. Run on the
digits-cnn statistics with the limits of `tests/sandbox/test_sandbox.py` (wall 5 s,
CPU 3 s, memory 512 MB); an API key is set in the environment and must not appear in any
reason. The test suite runs the same corpus and also checks that the host is unharmed
(working directory, environment, statistics file, no files written).

{_table(hostile, "status")}

## 2b. The OS boundary, judged by effects, per user mode

The same corpus, plus programs that attack the host directly (`os_*.py`), run by
`tests/sandbox/host_effects.py` as each user: root; nobody (`setpriv --reuid=65534`);
root without CAP_SYS_ADMIN (`capsh --drop=cap_sys_admin`); `--mode-checks off,on` adds
the runs with the language checks on. With the language checks
*off* the static screen, the safe builtins and the guarded imports are all disabled, so
each program runs with real `os`, `socket`, `ctypes` and `open`, and only the OS boundary
stands in front of it. A program counts as held only when nothing is observed on the host:
no `tapq-hostile-pwned` file in /tmp, /var/tmp, /dev/shm, /run/lock, /, the home folder,
tapq's or torch's folders or a folder of ours; no change to our files beside the
statistics (a private key, a `.bashrc`, another run's database, the statistics); our
secret in nothing returned; no connection accepted by our listeners on 127.0.0.1, ::1, a
Unix socket file and an abstract socket; no signal delivered to us; no process left
behind (the harness is a child subreaper); the same table from a reference candidate
afterwards. The status a program gets does not matter here, only its effects.

{_modes_summary(modes)}

{_modes_tables(modes)}

## 3. LLM faults

`OpenAIBackend` against a loopback OpenAI-compatible server that misbehaves on purpose
(retry back-off shortened to 10-50 ms). A fault once must be retried to the answer (2
requests); a persistent fault must end, after the first try and 2 retries, in one line of
`LLMError` -- which the CLI prints as `tapq: error: …`. A missing API key for a remote
server fails before any request (part 1, `discover-llm-no-key`).

{_table(llm, "outcome")}

## 4. Processes killed while working

A machine loses processes: the OOM killer takes a worker, a node of a Ray cluster goes
away, a user closes the laptop. Each row is a test of the suite, run here by pytest; it
kills a real process with SIGKILL (or stops a build after n results) and then checks the
stored results against an undisturbed run. Results are committed one by one as they
arrive (SQLite), so only the work in flight is ever lost; a local pool replaces a dead
worker and runs its unfinished jobs again (at most 3 times per call), Ray retries a dead
worker's task (3 times); after that the command stops with one line and keeps what it
has, for the rerun or `--resume`.

{_table(kills, "outcome")}

## Also covered by the test suite

- An existing discovery run needs `--resume` and the same settings:
  `tests/discover/test_discovery.py::test_an_existing_run_needs_resume_and_the_same_settings`;
  a finished benchmark measures nothing again, and other settings refuse to resume
  (`tests/bench/test_builder.py::test_resuming_a_finished_build_measures_nothing_again`,
  `test_different_settings_refuse_to_resume`).
- Output files are written to a temporary file and renamed, so a failure leaves the old
  file or none: `tests/test_outputs.py`.
- LLM client errors (400, 401, 404) are not retried; back-off grows exponentially with
  jitter and honours `Retry-After`: `tests/discover/test_llm.py`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "RELIABILITY.md"),
                        help="file to write ('-' prints it)")
    parser.add_argument("--workers", type=int, default=2,
                        help="bad-input cases run at once (default 2)")
    parser.add_argument("--mode-checks", default="off", help="language checks for the "
                        "per-user-mode runs: off (the OS boundary alone), or off,on")
    args = parser.parse_args()
    start = time.perf_counter()
    parts = []
    for name, build in (("bad input", lambda: bad_input_rows(args.workers)),
                        ("hostile candidates", hostile_rows),
                        ("user modes", lambda: mode_runs(tuple(args.mode_checks.split(",")))),
                        ("LLM faults", llm_rows), ("process kills", kill_rows)):
        part_start = time.perf_counter()
        rows = build()
        parts.append(rows)
        flat = [r for run in rows for r in run.rows] if name == "user modes" else rows
        print(f"{name}: {_count(flat)} held in {time.perf_counter() - part_start:.0f} s",
              file=sys.stderr)
    text = render(*parts, wall=time.perf_counter() - start)
    if args.out == "-":
        print(text)
    else:
        from tapq.outputs import write_text_atomic

        write_text_atomic(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    flat = [r for i, rows in enumerate(parts)
            for r in ([x for run in rows for x in run.rows] if i == 2 else rows)]
    if not all(r.ok for r in flat):
        sys.exit(1)


if __name__ == "__main__":
    main()
