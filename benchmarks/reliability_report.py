"""Regenerate RELIABILITY.md: what tapq does with bad input, hostile code and a failing LLM.

    python benchmarks/reliability_report.py            # writes RELIABILITY.md (~3-4 min, 2 cores)
    python benchmarks/reliability_report.py --out -    # print it instead

Three parts, each one table, each from the same cases the test suite runs:
1. the bad-input matrix (tests/bad_input_cases.py): every CLI command in a subprocess,
   without an API key; each must exit 2 with one line on stderr and write nothing;
2. the hostile-candidate corpus (tests/discover/hostile/*.py) in the sandbox, on the
   digits-cnn statistics, under the limits tests/discover/test_sandbox.py uses;
3. LLM faults against a loopback OpenAI-compatible server (tests/discover/fake_openai.py):
   each fault once then an answer (must be retried to the answer), and each persistent
   (must end in one line of LLMError after the retries, quickly).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "discover")]

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
    from tapq.discover.sandbox import Sandbox, save_stats_for_sandbox
    from tapq.models import load_model
    from tapq.proxies.scoring import model_stats

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


def render(bad: list[Row], hostile: list[Row], llm: list[Row], wall: float) -> str:
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# Reliability

Generated by `{COMMAND}` on {date}, in {wall / 60:.1f} min, on {_machine()};
commit {_commit()}. Do not edit by hand: rerun the command.

| part | held |
|---|---:|
| 1. bad input, every command | {_count(bad)} |
| 2. hostile candidates in the sandbox | {_count(hostile)} |
| 3. LLM faults | {_count(llm)} |

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

Each file in `tests/discover/hostile/` is a proxy an LLM (or an attacker) might write; its
first line says what it tries and which status the sandbox must give it. Run on the
digits-cnn statistics with the limits of `tests/discover/test_sandbox.py` (wall 5 s,
CPU 3 s, memory 512 MB); an API key is set in the environment and must not appear in any
reason. The test suite runs the same corpus and also checks that the host is unharmed
(working directory, environment, statistics file, no files written).

{_table(hostile, "status")}

## 3. LLM faults

`OpenAIBackend` against a loopback OpenAI-compatible server that misbehaves on purpose
(retry back-off shortened to 10-50 ms). A fault once must be retried to the answer (2
requests); a persistent fault must end, after the first try and 2 retries, in one line of
`LLMError` -- which the CLI prints as `tapq: error: …`. A missing API key for a remote
server fails before any request (part 1, `discover-llm-no-key`).

{_table(llm, "outcome")}

## Also covered by the test suite

- Discovery killed with SIGKILL mid-generation and resumed gives the same population,
  nothing finished lost or asked again:
  `tests/discover/test_discovery.py::test_a_run_killed_mid_generation_resumes_to_the_same_population`;
  an existing run needs `--resume` and the same settings:
  `test_an_existing_run_needs_resume_and_the_same_settings`.
- A benchmark build killed with SIGKILL and rerun measures exactly the missing rows:
  `tests/bench/test_builder.py::test_killed_build_resumes_to_the_same_rows`; a finished
  one measures nothing again, and other settings refuse to resume
  (`test_resuming_a_finished_build_measures_nothing_again`,
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
    args = parser.parse_args()
    start = time.perf_counter()
    parts = []
    for name, build in (("bad input", lambda: bad_input_rows(args.workers)),
                        ("hostile candidates", hostile_rows), ("LLM faults", llm_rows)):
        part_start = time.perf_counter()
        rows = build()
        parts.append(rows)
        print(f"{name}: {_count(rows)} held in {time.perf_counter() - part_start:.0f} s",
              file=sys.stderr)
    text = render(*parts, wall=time.perf_counter() - start)
    if args.out == "-":
        print(text)
    else:
        from tapq.outputs import write_text_atomic

        write_text_atomic(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    if not all(r.ok for rows in parts for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
