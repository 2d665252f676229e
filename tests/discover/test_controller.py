import math

import numpy as np
import pytest

from tapq.discover.controller import ControllerConfig, StrategyController

KEYS = ["init/a", "init/b", "mutate/a", "mutate/b"]


def test_dpo_raises_the_probability_of_a_strategy_that_is_always_better():
    controller = StrategyController(KEYS)
    rng = np.random.default_rng(0)
    history = [controller.probabilities()[1]]
    for _ in range(6):
        drawn = [controller.sample(rng) for _ in range(8)]
        # "init/b" always produces the fitter candidate; the others are noise around 0.3
        results = [(k, 0.8 if k == "init/b" else 0.3 + 0.05 * rng.standard_normal())
                   for k in drawn]
        controller.update(results)
        history.append(controller.probabilities()[1])
    assert history[-1] > 0.5 > history[0] == pytest.approx(0.25)
    assert all(b >= a - 1e-12 for a, b in zip(history, history[1:]))  # never falls


def test_one_update_moves_the_policy_a_bounded_amount():
    """The reference is the previous policy and the sigmoid saturates: a flood of
    identical preferences cannot push the policy arbitrarily far in one generation."""
    few, many = StrategyController(KEYS), StrategyController(KEYS)
    few.update([("init/a", 1.0), ("init/b", 0.0)])
    many.update([("init/a", 1.0), ("init/b", 0.0)] * 50)
    assert few.probabilities()[0] > 0.25
    assert many.probabilities()[0] == pytest.approx(few.probabilities()[0], rel=1e-6)


def test_failed_candidates_lose_and_ties_teach_nothing():
    controller = StrategyController(KEYS, ControllerConfig(margin=0.05))
    pairs = controller.preference_pairs([("init/a", 0.40), ("init/b", 0.42),
                                         ("mutate/a", float("-inf")), ("mutate/b", -math.inf)])
    assert (0, 2) in pairs and (1, 3) in pairs   # valid beats failed
    assert (0, 1) not in pairs and (1, 0) not in pairs   # within the margin: a tie
    assert (2, 3) not in pairs and (3, 2) not in pairs   # two failures: nothing to learn
    assert math.isnan(StrategyController(KEYS).update([("init/a", 0.5)]))


def test_uniform_controller_never_changes():
    controller = StrategyController(KEYS, ControllerConfig(kind="uniform"))
    controller.update([("init/a", 1.0), ("init/b", 0.0)])
    assert np.allclose(controller.probabilities(), 0.25)


def test_sampling_keeps_a_floor_and_respects_the_allowed_set():
    controller = StrategyController(KEYS, ControllerConfig(floor=0.2), theta=[50, 0, 0, 0])
    p = controller.sampling_probabilities()
    assert p.min() >= 0.2 / len(KEYS) - 1e-12
    rng = np.random.default_rng(1)
    assert {controller.sample(rng, ["mutate/a", "mutate/b"]) for _ in range(50)} == {
        "mutate/a", "mutate/b"}


def test_unknown_controller_kind():
    with pytest.raises(ValueError, match="unknown controller"):
        StrategyController(KEYS, ControllerConfig(kind="ppo"))
