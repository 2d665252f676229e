"""Progress output piped into a log: one line per finished step, no blank lines."""
import subprocess
import sys

SCRIPT = """
from tapq.progress import StepBar, track
for _ in track(range(4), "first step"):
    pass
print("result")
with StepBar(3, "second step") as bar:
    for _ in range(3):
        bar.advance("second step (best 0.5)")
print("done")
"""


def test_piped_progress_leaves_one_line_per_step_and_no_blank_lines():
    result = subprocess.run([sys.executable, "-c", SCRIPT], check=False, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["result", "done"]
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.strip() for line in lines)
    assert lines[0].startswith("first step: 4/4 in ")
    assert lines[1].startswith("second step (best 0.5): 3/3 in ")
    assert "\x1b" not in result.stderr  # no terminal control codes in a log
