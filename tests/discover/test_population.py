import numpy as np

from tapq.discover.population import Member, select_parents, survivors


def test_survivors_are_the_best_distinct_valid_members_ties_to_the_younger():
    members = [Member(1, 0.5, 0, "a"), Member(2, 0.7, 0, "b"), Member(3, float("-inf"), 0, "c"),
               Member(4, 0.5, 1, "d"), Member(5, 0.7, 1, "b"), Member(6, 0.2, 1, "e")]
    kept = survivors(members, 3)
    assert [m.id for m in kept] == [5, 4, 1]  # 5 replaces its older twin 2; 4 beats 1 on age


def test_parent_selection_prefers_the_fit_but_reaches_everyone():
    population = [Member(i, 1.0 - i / 10, 0, str(i)) for i in range(6)]
    rng = np.random.default_rng(0)
    counts = np.zeros(6)
    for _ in range(2000):
        (parent,) = select_parents(population, 1, rng)
        counts[parent.id] += 1
    assert counts[0] > counts[5] > 0 and np.all(np.diff(counts) < 0)
    pair = select_parents(population, 2, rng)
    assert len({m.id for m in pair}) == 2
    assert select_parents([], 2, rng) == []
