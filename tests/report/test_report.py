"""The HTML report: built from a real (small) discovery run on the default benchmark and
rendered in headless Chromium, which must load every figure and log no error."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tapq.bench import DEFAULT_BENCH
from tapq.discover import DiscoverConfig, LLMConfig, SearchConfig, discover
from tapq.discover.llm import OpenAIBackend
from tapq.sandbox import SandboxLimits
from tapq.report import write_report

sys.path.insert(0, str(Path(__file__).parents[1] / "discover"))
from fake_openai import FakeOpenAI  # noqa: E402
from scripted_answers import in_order  # noqa: E402

ARTIFACTS = Path(os.environ.get("TAPQ_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
# Appended to a copy of the report (never to the report itself): after load, it records
# how many images decoded and any script error into the DOM, which --dump-dom prints.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt);
  document.body.setAttribute('data-probe', JSON.stringify(
    {images: images.length, broken: broken, errors: window.__errors}));
});
</script></body>"""


def chromium() -> str:
    """Debian's chromium, installed on first use when missing (the test set-up's job)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                       capture_output=True, timeout=900, env={**os.environ,
                                                              "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium")
    return found


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    answers = ["fisher", "raises", "hawq", "no_code", "gradient", "size", "syntax"]
    with FakeOpenAI(in_order(answers)) as server:
        discover(DiscoverConfig(bench=DEFAULT_BENCH, out=out, llm=LLMConfig(spec="openai:fake"),
                                search=SearchConfig(generations=2, population=4, children=3,
                                                    seed=1),
                                limits=SandboxLimits(wall_seconds=10, cpu_seconds=6)),
                 backend=OpenAIBackend("fake", base_url=server.base_url), final_check=False)
    return out


def _render(page: Path, browser: str, tmp_path: Path) -> dict:
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE))
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=180)
    match = re.search(r"data-probe=\"([^\"]*)\"", dom.stdout)
    assert match, f"the page did not finish loading: {dom.stderr[-2000:]}"
    result = json.loads(match.group(1).replace("&quot;", '"'))
    result["console_errors"] = [line for line in dom.stderr.splitlines()
                                if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{page.stem}.png"
    subprocess.run([browser, *flags, "--hide-scrollbars", "--window-size=1280,4200",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180)
    result["screenshot"] = shot
    return result


@pytest.mark.slow
def test_run_report_renders_every_figure_without_errors(run_dir, tmp_path):
    report = write_report(run=run_dir, budgets=(2.5, 3.0), sweep_ptq="rtn")
    assert report.html == run_dir / "report.html"
    names = {p.stem for p in report.figures}
    assert names == {"generations", "controller", "score_vs_accuracy", "pareto_size",
                     "pareto_bitops", "bits_per_layer", "proxies"}
    assert all(p.stat().st_size > 5_000 for p in report.figures)
    text = report.html.read_text()
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text)  # self-contained
    assert text.count("data:image/png;base64,") == len(names)
    assert "Leaderboard" in text and "<pre" in text and "sensitivity</span>" in text
    assert "openai:fake" in text  # the run's metadata names its LLM
    # seeds and copies are marked as such; the best proxy shown is a novel one
    assert "copy of #" in text and "The best novel proxy" in text
    result = _render(report.html, chromium(), tmp_path)
    assert result["images"] == len(names) and result["broken"] == []
    assert result["errors"] == [] and result["console_errors"] == []
    assert result["screenshot"].stat().st_size > 50_000
    # a second report reuses the measured sweep instead of running PTQ again
    sweep = run_dir / "report_sweep.json"
    stamp = sweep.stat().st_mtime_ns
    write_report(run=run_dir, out=tmp_path / "again.html", budgets=(2.5, 3.0), sweep_ptq="rtn")
    assert sweep.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_bench_report_renders(tmp_path):
    report = write_report(bench=DEFAULT_BENCH, out=tmp_path / "bench.html")
    assert len(report.figures) == 6
    result = _render(report.html, chromium(), tmp_path)
    assert result["images"] == 6 and result["broken"] == [] and result["errors"] == []


def test_report_cli_errors_are_one_line(tmp_path):
    for argv in (["report"], ["report", str(tmp_path)], ["report", "--bench", "nope.db"]):
        done = subprocess.run([sys.executable, "-m", "tapq.cli", *argv], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr


def test_a_run_without_a_valid_candidate_still_renders(tmp_path):
    out = tmp_path / "failed_run"
    with FakeOpenAI(in_order(["raises", "syntax", "no_code"])) as server:
        result = discover(DiscoverConfig(
            bench=DEFAULT_BENCH, out=out, llm=LLMConfig(spec="openai:fake"),
            search=SearchConfig(generations=1, population=3, seed=1),
            limits=SandboxLimits(wall_seconds=10, cpu_seconds=6)),
            backend=OpenAIBackend("fake", base_url=server.base_url), final_check=False)
    assert result.best_proxy is None and result.summary.valid == 0
    report = write_report(run=out, budgets=(3.0,), sweep_ptq="rtn")
    text = report.html.read_text()
    assert "No novel proxy" in text and "discovered nothing" in text and "Leaderboard" in text
