"""Prompt styles: teaching prompts carry the standing and never a placeholder; plain ones
are the prompts runs were asked with before (their replay cache depends on it)."""
import hashlib
import re
from importlib import resources

import pytest

from tapq.discover.prompting import (
    Lesson,
    Parent,
    TaskContext,
    all_strategies,
    build_messages,
)
from tapq.discover.teaching import standing_text

CONTEXT = TaskContext([2, 4, 8], 5, "layer.name='conv'", 0.8)
LESSON = Lesson(standing="Standing so far:\n1. 0.623  fisher (human baseline)",
                target="0.623 (fisher, the best human proxy)", seed_score="it scores 0.600")
PARENT = Parent("use fisher", "def sensitivity(layer, bits):\n    return 1.0", 0.5,
                diagnosis="- it over-rates layer 0 (stem) at 2 bits")
# SHA-256 (first 16 hex digits) of the prompt files before teaching prompts existed
PLAIN = {"system": "2d9e3160773b7a18", "answer_format": "0d4348599dd3efc3",
         "init": "7d9416aa6e011bc5", "mutate": "8a25aa2c98638778",
         "crossover": "7ffa0b57afb513e0"}


def _parents(operator):
    return {"init": [], "mutate": [PARENT], "crossover": [PARENT, PARENT]}[operator]


@pytest.mark.parametrize("strategy", all_strategies(), ids=lambda s: s.key)
def test_teaching_prompts_show_the_standing_and_leave_nothing_to_copy(strategy):
    system, user = build_messages(strategy, _parents(strategy.operator), CONTEXT, "teach",
                                  LESSON)
    text = system["content"] + user["content"]
    assert "1. 0.623  fisher (human baseline)" in text and "0.623 (fisher" in text
    assert not re.search(r"<[a-z][^>]*>", text), "a placeholder the model could copy"
    assert "$" not in text and "Thought:" not in system["content"]
    # one answer format everywhere: a code block whose docstring is the model's own idea
    assert "one python code block and nothing else" in system["content"]
    assert "docstring that says in your own words" in user["content"]
    if strategy.operator == "init":
        assert "already scored (it scores 0.600)" in text
    if strategy.operator == "mutate":
        assert "over-rates layer 0" in text


def test_plain_prompts_are_the_old_ones():
    folder = resources.files("tapq.discover").joinpath("prompts").joinpath("plain")
    for name, digest in PLAIN.items():
        text = folder.joinpath(f"{name}.txt").read_text()
        assert hashlib.sha256(text.encode()).hexdigest()[:16] == digest, name
    for strategy in all_strategies():
        _, user = build_messages(strategy, _parents(strategy.operator), CONTEXT)
        assert "Standing" not in user["content"] and "over-rates" not in user["content"]


def test_a_teaching_prompt_without_its_lesson_is_refused():
    with pytest.raises(ValueError, match="lesson"):
        build_messages(all_strategies()[0], [], CONTEXT, "teach")


def test_the_standing_lists_scores_best_first_and_the_target():
    from tapq.discover.store import CandidateRecord, Status
    record = CandidateRecord(generation=1, slot=0, operator="mutate", hint="fisher",
                             parents=[], prompt=[], response="", thought="a new idea",
                             code="x", code_hash="h", status=Status.OK, fitness=0.61, id=12)
    text = standing_text([record], 0.8, "0.623 (fisher, the best human proxy)")
    assert "1. 0.610  candidate 12 of generation 1: a new idea" in text
    assert text.endswith("Score to beat: 0.623 (fisher, the best human proxy).")


def _layer(**richer):
    import torch

    from tapq.proxies import LayerStats
    w = torch.ones(2, 1, 2, 2)
    return LayerStats(name="conv", kind="conv", index=0, num_params=8, macs=8, weight=w,
                      grad=w, act_in=torch.ones(3, 1), act_out=torch.ones(3, 2),
                      hessian_trace=1.0, hessian_trace_avg=0.1, hessian_eig=1.0, fisher=w,
                      synflow=w, **richer)


def test_teaching_contract_offers_the_richer_fields_only_where_every_layer_holds_them():
    import torch

    from tapq.discover.prompting import richer_fields
    w = torch.ones(2, 1, 2, 2)
    held = _layer(depth=0.0, param_share=1.0, mac_share=1.0, fan_in=4, fan_out=8,
                  next_op="relu", patches=torch.ones(3, 4), in_min=torch.zeros(1),
                  in_max=torch.ones(1), out_min=torch.zeros(2), out_max=torch.ones(2),
                  ptq="adaround", ptq_weights={2: w, 4: w}, delta_loss={2: 0.1, 4: 0.0},
                  delta_kl={2: 0.1, 4: 0.0}, background_bits=4)
    full = richer_fields([held], [2, 4])
    for name in ("layer.depth", "layer.next_op", "layer.patch_out(", "layer.in_min",
                 "layer.ptq_quant(bits)", "('adaround')", "layer.delta_loss[bits]",
                 "at 4 bits"):
        assert name in full, name
    assert "$" not in full and not re.search(r"<[a-z][^>]*>", full)
    bare = richer_fields([held, _layer()], [2, 4])  # the second layer holds none of them
    assert "layer.depth" in bare
    assert not any(name in bare for name in ("patches", "in_min", "ptq_quant", "delta_loss"))
    context = TaskContext([2, 4], 1, "layer.name='conv'", 0.8, full)
    init = next(s for s in all_strategies() if s.operator == "init")
    teach = build_messages(init, [], context, "teach", LESSON)[1]["content"]
    plain = build_messages(init, [], context, "plain")[1]["content"]
    assert "layer.delta_loss[bits]" in teach and "layer.delta_loss" not in plain
    assert teach.index("layer.hessian_trace") < teach.index("layer.depth") < teach.index(
        "Example from this network")
