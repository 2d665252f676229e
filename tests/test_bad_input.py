"""Bad input, every command: one line of error, exit status 2, and nothing written.

The cases are in bad_input_cases.py (shared with benchmarks/reliability_report.py, which
writes them into RELIABILITY.md). Each runs the real CLI in a subprocess without an API
key; they run two at a time, since each spends most of its ~3 s importing torch.
"""
import pytest
from bad_input_cases import CASES, error_lines, run_cases

pytestmark = pytest.mark.slow

COMMANDS = ("demo", "quantize", "layers", "train", "bench build", "bench info", "proxy list",
            "proxy eval", "allocate", "compare", "discover", "report", "bench remeasure",
            "proxy stats", "bench list")


def _command(args: tuple[str, ...]) -> str:
    return " ".join(args[:2]) if args[0] in ("bench", "proxy") else args[0]


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    """Run the selected cases once, up front (so `-k` runs only what it selects)."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")]
    return run_cases(selected, tmp_path_factory.mktemp("bad-input"))


def test_every_command_has_bad_input_cases():
    assert {_command(case.args) for case in CASES} == set(COMMANDS)
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_in_one_line(case, outcomes):
    outcome = outcomes[case.id]
    assert outcome.ok, (f"{case.command}: {'; '.join(outcome.problems)}\n"
                        f"stderr:\n{outcome.stderr[-3000:]}")
    # the rule itself, spelled out (run_case checks the same and says what broke)
    assert outcome.returncode == 2
    assert "Traceback" not in outcome.stdout + outcome.stderr
    errors = error_lines(outcome.stderr)  # a finished step's progress line may precede it
    assert len(errors) == 1 and errors[0].startswith("tapq: error: ")
    assert case.expect in outcome.message
