"""Seeds and novelty: copies by ranking, invalid tables, what counts as discovered."""
import numpy as np

from tapq.discover.credit import credits, improvement
from tapq.discover.novelty import NoveltyIndex, table_problem
from tapq.discover.results import kind_of
from tapq.discover.store import SEED, SEED_GENERATION, CandidateRecord, Status

RNG = np.random.default_rng(0)
TABLE = RNG.random((6, 4)) * 2.0 ** -np.arange(4)


def _record(fitness=0.5, copy_of=None, duplicate_of=None, operator="mutate", parents=(),
            id_=None):
    generation = SEED_GENERATION if operator == SEED else 1
    return CandidateRecord(generation=generation, slot=0, operator=operator, hint="fisher",
                           parents=list(parents), prompt=[], response="", thought="",
                           code="x", code_hash="h", status=Status.OK, fitness=fitness,
                           copy_of=copy_of, duplicate_of=duplicate_of, id=id_)


def test_a_monotone_rewrite_is_a_copy_and_a_real_change_is_not():
    index = NoveltyIndex()
    index.add(7, TABLE)
    assert index.copy_of(TABLE * 2.0 + 1e-3) == 7          # "2 vs 2.0", a factor, an offset
    assert index.copy_of(np.log(TABLE + 1e-9)) == 7         # any monotone transform
    changed = TABLE.copy()
    changed[[0, 3]] = changed[[3, 0]]                        # two layers swap their scores
    assert index.copy_of(changed) is None
    assert index.copy_of(TABLE[:5]) is None                  # another shape is never a copy


def test_constant_and_bit_blind_tables_are_invalid_with_a_reason():
    assert "constant" in table_problem(np.ones((6, 4)))
    blind = np.repeat(RNG.random((6, 1)), 4, axis=1)         # a layer's score ignores bits
    assert "does not depend on bits" in table_problem(blind)
    assert table_problem(TABLE) is None
    partly = blind.copy()
    partly[2, 0] += 1.0                                      # one layer reacts to bits: fine
    assert table_problem(partly) is None


def test_only_new_llm_tables_are_novel_and_kinds_are_named():
    assert _record().novel and kind_of(_record()) == "novel"
    assert not _record(copy_of=3).novel and kind_of(_record(copy_of=3)) == "copy of #3"
    assert not _record(duplicate_of=4).novel and "repeat of #4" == kind_of(_record(duplicate_of=4))
    assert not _record(operator=SEED).novel and kind_of(_record(operator=SEED)) == "seed"
    assert not _record(fitness=float("-inf")).novel


def test_credit_is_improvement_over_the_inputs_for_new_tables_only():
    parents = {1: _record(0.50, id_=1), 2: _record(0.60, id_=2)}
    better = _record(0.65, parents=[1, 2])
    assert improvement(better, [parents[1], parents[2]], 0.62) == 0.65 - 0.60
    assert improvement(_record(0.55, parents=[1, 2]), list(parents.values()), 0.62) == 0.0
    assert improvement(_record(0.70, copy_of=9), [], 0.62) == 0.0      # a copy earns nothing
    assert improvement(_record(0.70), [], 0.62) == 0.70 - 0.62         # init: vs best seed
    failed_parent = _record(float("-inf"), id_=3)
    assert improvement(_record(0.64, parents=[3]), [failed_parent], 0.62) == 0.64 - 0.62
    records = [better, _record(0.9, duplicate_of=5)]
    got = credits(records, "improvement", parents.__getitem__, 0.62)
    assert [c for _, c in got] == [0.65 - 0.60, 0.0]
    assert [c for _, c in credits(records, "fitness", parents.__getitem__, 0.62)] == [0.65, 0.9]


def test_a_run_stored_before_novelty_loads_and_says_novelty_was_not_checked(tmp_path):
    import sqlite3

    from tapq.discover import RunStore, summarize
    from tapq.discover.results import proxy_file_text
    from tapq.discover.store import GenerationRecord

    store = RunStore(tmp_path / "run.db")
    store.set_meta(config={"population": 2})
    store.add_candidate(_record(0.6))
    store.add_generation(GenerationRecord(1, [1], [0.0], {"init/fisher": 1.0}, 0.1, 0.6))
    store.close()
    old = sqlite3.connect(tmp_path / "run.db")  # the schema before copy_of existed
    old.execute("ALTER TABLE candidates DROP COLUMN copy_of")
    old.commit()
    old.close()
    store = RunStore(tmp_path / "run.db")
    try:
        summary = summarize(store)
        assert summary.seeds == 0 and summary.best is not None and summary.best.novel
        assert "not checked" in proxy_file_text(summary.best, "bench.db", seeded=False)
    finally:
        store.close()
