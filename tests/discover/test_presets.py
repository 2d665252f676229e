"""Discovery budgets by name: each preset's numbers, and explicit flags winning."""
import pytest

from tapq.cli import build_parser
from tapq.cli.discover import _apply_preset
from tapq.discover.presets import PRESETS, preset
from tapq.errors import TapqError


def _args(*argv):
    args = build_parser().parse_args(["discover", "--out", "run", *argv])
    _apply_preset(args)
    return args


def test_the_default_is_the_demo_budget_as_before():
    args = _args()
    assert (args.generations, args.population, args.children) == (3, 6, 6)


def test_tap_is_sized_like_the_paper_and_long_is_several_times_it():
    tap, long = PRESETS["tap"], PRESETS["long"]
    assert tap.generations <= 5 and tap.candidates == 50
    assert long.candidates >= 3 * tap.candidates
    args = _args("--preset", "tap")
    assert (args.generations, args.population, args.children) == (5, 10, 10)


def test_explicit_flags_override_the_preset():
    args = _args("--preset", "long", "--generations", "2")
    assert (args.generations, args.population, args.children) == (2, 16, 16)
    # --population alone still means as many children as the population
    args = _args("--preset", "tap", "--population", "4")
    assert (args.population, args.children) == (4, None)


def test_an_unknown_preset_is_one_line():
    with pytest.raises(TapqError, match="unknown --preset 'huge'"):
        preset("huge")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["discover", "--out", "run", "--preset", "huge"])


def test_the_final_checks_budget_fits_the_benchmark_before_the_run_starts():
    from tapq.bench import resolve_bench
    from tapq.cli.discover import _compare_budget

    mnist, lite = resolve_bench("mnist-cnn"), resolve_bench("efficientnet-lite1")
    assert _compare_budget(None, mnist) == "avg-bits=3"
    assert _compare_budget("none", lite) == "none"
    # Lite1's configurations hold first/last at 8 and never go under 4.96 average bits
    assert _compare_budget(None, lite) == "avg-bits=6.5"
    assert _compare_budget("size-mb=3", lite) == "size-mb=3"
    with pytest.raises(TapqError, match="span 4.96-8.00 average bits"):
        _compare_budget("avg-bits=3", lite)


def test_discover_stats_reach_the_run_configuration_in_one_spelling(tmp_path):
    from tapq.cli.discover import _config

    args = build_parser().parse_args(["discover", "--out", str(tmp_path / "run"),
                                      "--stats", "+delta_loss, ptq"])
    config = _config(args)
    assert config.stats == "+ptq,delta_loss"
    assert config.resume_key()["stats"] == "+ptq,delta_loss"
    plain = _config(build_parser().parse_args(["discover", "--out", str(tmp_path / "r2")]))
    assert plain.stats is None
    with pytest.raises(TapqError, match="unknown statistic"):
        _config(build_parser().parse_args(["discover", "--out", str(tmp_path / "r3"),
                                           "--stats", "+deltaloss"]))
