from tapq.discover.run import best_human, same_ranking
from tapq.proxies.fitness import Fitness, failed


def _fit(name, iso, val=0.6, rho=0.8):
    return Fitness(name, rho, 0.6, 0.7, -0.4, 0.1, iso, val, val, 1.0)


def test_a_copy_of_a_baseline_is_named_and_a_new_proxy_is_not():
    copy = [_fit("best_proxy", 0.62), _fit("hawq_v2", 0.59), _fit("fisher", 0.62)]
    assert same_ranking(copy) == "fisher"
    new = [_fit("best_proxy", 0.65), _fit("fisher", 0.62)]
    assert same_ranking(new) is None
    assert same_ranking([failed("best_proxy", "boom"), _fit("fisher", 0.62)]) is None


def test_best_human_skips_the_discovered_proxy_and_failures():
    final = [_fit("best_proxy", 0.9), _fit("hawq_v2", 0.59), failed("broken", "x"),
             _fit("fisher", 0.62)]
    assert best_human(final) == "fisher"
