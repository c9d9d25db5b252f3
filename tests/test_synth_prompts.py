"""Synthesizer prompt builders (the template texts are pinned to their versions in prompt_pins.py)."""

from __future__ import annotations


from reasonir.prompts import synth as P


def test_hq_messages_carry_document_count_and_json_contract():
    msgs = P.hq_messages("Photosynthesis converts light {into} sugar.", 3)
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "Write 3 question(s)" in msgs[0]["content"] and '{"hard_query": [' in msgs[0]["content"]
    assert "<document>\nPhotosynthesis converts light {into} sugar.\n</document>" in msgs[1]["content"]
    # the rules the intent requires: scenario, no document references, field concepts
    system = msgs[0]["content"]
    for phrase in ("self-contained situation", "analysis, evaluation or synthesis", "never seen the document",
                   "concepts and vocabulary", '"the document"'):
        assert phrase in system


def test_vl_and_negative_messages():
    tasks = P.vl_tasks_messages(7, "law")
    assert "Brainstorm 7 new tasks" in tasks[1]["content"] and "tasks from law" in tasks[1]["content"]
    assert all(t in tasks[1]["content"] for t in P.VL_SEED_TASKS)
    pair = P.vl_pair_messages("Given an essay, retrieve rebuttals.", 320, 640)
    assert "at least 320 words long;" in pair[1]["content"] and "at least 640 words long." in pair[1]["content"]
    neg = P.negative_messages("my query", "the positive", 300)
    assert "<input>\nmy query\n</input>" in neg[1]["content"]
    assert "at least 300 words" in neg[1]["content"] and '{"hard_negative_document"' in neg[1]["content"]
    judge = P.negative_judge_messages("q", "d")
    assert judge[0]["content"].rstrip().endswith("Yes or No.")
    assert "Educational score: N" in P.edu_judge_messages("x")[0]["content"]
