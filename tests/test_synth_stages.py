"""HQ and VL stages with a scripted LLM: valid, malformed and short replies, retries, failures."""

from __future__ import annotations

import json

import pytest

from _synth_scripted import default_reply, words_text
from fakes import ScriptedLLM
from reasonir.synth.config import SynthesizeConfig
from reasonir.synth.hq import HQStage, parse_hq_reply, question_lines
from reasonir.synth.parsing import ParseError
from reasonir.synth.records import new_hq_record, new_vl_record
from reasonir.synth.vl import VLPairStage, brainstorm_tasks, check_pair, term_jaccard, vl_records

DOC = "Enzymes lower the activation energy of reactions; temperature and pH change their shape and activity."
GOOD_Q = "A brewery notices its fermentation stalls on hot afternoons; what enzyme kinetics explain it and what should change?"


def cfg(**kw) -> SynthesizeConfig:
    base = dict(out="unused", input=["x"], max_attempts=3, hq_min_words=8, vl_min_words=30,
                vl_length_range=[30, 60], vl_max_overlap=0.5)
    base.update(kw)
    return SynthesizeConfig(**base)


def hq_records(n=1):
    return [new_hq_record(f"d{i}", f"{DOC} Variant {i}.", i, 3.0) for i in range(n)]


def test_hq_valid_reply():
    llm = ScriptedLLM(default_reply)
    recs = HQStage(cfg(hq_per_doc=2), llm)(hq_records(2))
    assert [len(r["items"]) for r in recs] == [2, 2]
    item = recs[0]["items"][0]
    assert item["pos"] == recs[0]["positive"] and item["query"].startswith("A lab team studying")
    assert recs[0]["prompt_version"] == "hq-1"
    assert recs[0]["trace"]["hq"]["prompts"] == 1 and recs[0]["trace"]["hq"]["calls"] == 1
    assert llm.calls == 2


def test_hq_retry_after_malformed_then_failure_counted():
    def reply(prompt, params):
        doc = prompt[1]["content"]
        if "Variant 0" in doc and params.seed == 0:
            return "Sure! Here are questions: (I forgot the JSON)"
        if "Variant 1" in doc:
            return '{"hard_query": ["' + GOOD_Q[:30]        # truncated mid-string every time
        return default_reply(prompt, params)

    llm = ScriptedLLM(reply)
    recs = HQStage(cfg(), llm)(hq_records(2))
    ok, bad = recs
    assert ok["dropped"] is None and len(ok["items"]) == 1
    assert ok["trace"]["hq"]["prompts"] == 2 and ok["trace"]["hq"]["parse_failures"] == {"no_json": 1}
    assert bad["dropped"] == {"stage": "hq", "reason": "no_valid_query"} and bad["items"] == []
    assert bad["trace"]["hq"]["failures"] == 1 and sum(bad["trace"]["hq"]["parse_failures"].values()) == 3
    assert llm.calls == 2 + 3


def test_hq_rejects_document_references_and_short_questions():
    reply = json.dumps({"hard_query": ["According to the passage, what is an enzyme?", "Why heat?", GOOD_Q]})
    good, rejected = parse_hq_reply(reply, want=3, min_words=8)
    assert good == [GOOD_Q]
    assert rejected == {"query_mentions_document": 1, "query_too_short": 1}
    with pytest.raises(ParseError) as err:
        parse_hq_reply(json.dumps({"hard_query": ["What does this document say about enzymes and heat today?"]}), 1, 8)
    assert err.value.reason == "query_mentions_document"


def test_hq_lenient_fallback_only_when_enabled():
    prose = "Here are some questions:\n1. " + GOOD_Q + "\n2) Short one?\nThanks."
    with pytest.raises(ParseError):
        parse_hq_reply(prose, 2, 8, lenient=False)
    assert parse_hq_reply(prose, 2, 8, lenient=True)[0] == [GOOD_Q]
    assert question_lines('- "Is it?"\nnot a question') == ["Is it?"]
    tagged = "<Question>" + GOOD_Q + "</Question>"
    assert parse_hq_reply(json.dumps({"hard_query": [tagged]}), 1, 8)[0] == [GOOD_Q]


def test_hq_per_doc_caps_items():
    llm = ScriptedLLM(lambda p, prm: json.dumps({"questions": [GOOD_Q, GOOD_Q + " Really?", GOOD_Q + " Now?"]}))
    recs = HQStage(cfg(hq_per_doc=2), llm)(hq_records(1))
    assert len(recs[0]["items"]) == 2


# --------------------------------------------------------------------------------------------------
# VL
# --------------------------------------------------------------------------------------------------
def test_vl_lengths_are_deterministic_and_in_range():
    c = cfg(vl_per_task=3)
    a = vl_records(["task one is here", "task two is here"], c)
    b = vl_records(["task one is here", "task two is here"], c)
    assert [(r["query_words"], r["doc_words"]) for r in a] == [(r["query_words"], r["doc_words"]) for r in b]
    assert all(30 <= r["query_words"] <= 60 and 30 <= r["doc_words"] <= 60 for r in a)
    assert len({r["example_id"] for r in a}) == 6
    shards = [vl_records(["task one is here", "task two is here"], cfg(vl_per_task=3, num_shards=2, shard_id=s))
              for s in (0, 1)]
    assert sorted(r["key"] for s in shards for r in s) == sorted(r["key"] for r in a)


def test_vl_short_outputs_are_regenerated_and_never_written():
    def reply(prompt, params):
        t = prompt[1]["content"]
        if "always short" in t:
            return json.dumps({"input": words_text("q", 40), "positive_document": "Too short."})
        if "short first" in t and params.seed == 0:
            return json.dumps({"input": "brief", "positive_document": words_text("p", 40)})
        return default_reply(prompt, params)

    recs = [new_vl_record(f"Given a long report, retrieve {name} evidence", i, 0, 40, 40)
            for i, name in enumerate(["good", "short first", "always short"])]
    llm = ScriptedLLM(reply)
    out = VLPairStage(cfg(), llm)(recs)
    assert out[0]["dropped"] is None and out[1]["dropped"] is None
    assert out[1]["trace"]["vl_pair"]["parse_failures"] == {"query_too_short": 1}
    assert out[2]["dropped"] == {"stage": "vl_pair", "reason": "no_valid_pair"} and out[2]["items"] == []
    assert out[2]["trace"]["vl_pair"]["parse_failures"] == {"positive_too_short": 3}
    for r in out[:2]:
        item = r["items"][0]
        assert len(item["query"].split()) >= 30 and len(item["pos"].split()) >= 30


def test_check_pair_overlap():
    text = words_text("same", 50)
    with pytest.raises(ParseError) as err:
        check_pair(text, text + " extra", 10, 0.5)
    assert err.value.reason == "high_overlap"
    check_pair(words_text("a", 50), words_text("b", 50), 10, 0.9)
    assert term_jaccard("cats chase mice", "mice chase cats") == 1.0 and term_jaccard("", "x") == 0.0


def test_brainstorm_dedups_and_uses_task_file(tmp_path):
    calls = []

    def reply(prompt, params):
        calls.append(prompt)
        return json.dumps(["Given a legal brief, retrieve precedents that contradict it",
                           "Given a legal brief, retrieve precedents that contradict it",
                           "too short"])

    tasks, usage = brainstorm_tasks(ScriptedLLM(reply), cfg(vl_tasks=3, vl_tasks_per_call=2))
    assert tasks == ["Given a legal brief, retrieve precedents that contradict it"]
    assert len(calls) == 4 and usage.prompts == 4            # 2 needed requests, then 2 more, then give up
    assert len({c[1]["content"] for c in calls}) == 4       # every request steered differently
    f = tmp_path / "tasks.txt"
    f.write_text("# comment\nGiven A, retrieve B that helps\n\nGiven C, retrieve D that helps\n")
    tasks, usage = brainstorm_tasks(ScriptedLLM(reply), cfg(vl_task_file=str(f), vl_tasks=5))
    assert tasks == ["Given A, retrieve B that helps", "Given C, retrieve D that helps"] and usage.prompts == 0


def test_llm_step_survives_rejected_prompts_and_aborts_when_unreachable():
    from reasonir.llm.base import GenerationParams, LLMConnectionError, LLMResponseError
    from reasonir.synth.llmstep import LLMStep

    class Picky(ScriptedLLM):
        def generate(self, prompts, params=None):
            if any("poison" in p for p in prompts):
                raise LLMResponseError("400 content filter", status=400)
            if any("down" in p for p in prompts):
                raise LLMConnectionError("connection refused")
            return super().generate(prompts, params)

    llm = Picky(lambda p, prm: "fine")
    step = LLMStep(llm, GenerationParams(max_tokens=4), max_attempts=2, batch_size=8)
    res = step.run(["a", "poison b", "c"], lambda i, t: t)
    assert [r.value for r in res] == ["fine", None, "fine"]
    assert res[1].usage.parse_failures == {"llm_error": 2} and res[1].usage.failures == 1 and res[1].attempts == 2
    with pytest.raises(LLMConnectionError):
        step.run(["a", "down"], lambda i, t: t)
