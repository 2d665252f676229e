from tapq.discover import human_to_beat
from tapq.proxies import Fitness, best_human, same_ranking
from tapq.proxies.fitness import failed


def _fit(name, iso, val=0.6, rho=0.8):
    return Fitness(name, rho, 0.6, 0.7, -0.4, 0.1, iso, spearman_select=val,
                   spearman_iso_select=val, spearman_test=val, spearman_iso_test=val, ms=1.0)


def test_a_copy_of_a_baseline_is_named_and_a_new_proxy_is_not():
    best = _fit("best_proxy", 0.62)
    assert same_ranking(best, [_fit("hawq_v2", 0.59), _fit("fisher", 0.62)]) == "fisher"
    assert same_ranking(_fit("best_proxy", 0.65), [_fit("fisher", 0.62)]) is None
    assert same_ranking(failed("best_proxy", "boom"), [_fit("fisher", 0.62)]) is None


def test_best_human_skips_the_discovered_proxy_and_failures():
    final = [_fit("best_proxy", 0.9), _fit("hawq_v2", 0.59), failed("snip", "x"),
             _fit("fisher", 0.62)]
    assert best_human(final).proxy == "fisher"
    assert human_to_beat(final) == "fisher"


def test_without_any_scored_baseline_the_fallback_is_named():
    assert best_human([_fit("best_proxy", 0.9), failed("fisher", "x")]) is None
    assert human_to_beat([_fit("best_proxy", 0.9), failed("fisher", "x")]) == "hawq_v2"
