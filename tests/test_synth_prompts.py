"""Synthesizer prompts are pinned: a changed template must come with a bumped version."""

from __future__ import annotations

import pytest

from reasonir.prompts import synth as P

#: name -> (version, sha256[:16] of the template texts). Update both together, deliberately.
PINNED = {
    "hq": ("hq-1", "953942ae8fc90c9d"),
    "hq_reason": ("hq-reason-1", "78cca6a8eaa1bc21"),
    "expand_reason": ("expand-reason-1", "36985018d0d38ddf"),
    "vl_tasks": ("vl-tasks-1", "ff576d66f050540a"),
    "vl_pair": ("vl-pair-1", "838564ed32fbfb26"),
    "negative": ("neg-1", "72cee349c7423280"),
    "neg_judge": ("negjudge-1", "753e2fa8557f5be4"),
    "edu_judge": ("edujudge-1", "af37bcab5bec09d7"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_template_pinned_to_version(name):
    version, digest = PINNED[name]
    assert P.TEMPLATES[name][0] == version
    assert P.template_hash(name) == digest, f"template {name!r} changed: bump its version and update PINNED"


def test_every_template_is_pinned():
    assert set(P.TEMPLATES) == set(PINNED)


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
