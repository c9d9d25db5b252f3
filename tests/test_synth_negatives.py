"""Hard negatives: LLM-written (separate turn), mined with skipped top ranks, LLM-judged; expansion."""

from __future__ import annotations

import copy
import json

import pytest

from _synth_scripted import default_reply, words_text
from fakes import ScriptedLLM
from reasonir.synth.config import SynthesizeConfig
from reasonir.synth.expand import ExpandStage
from reasonir.synth.negatives import LLMNegativeStage, MineStage, NegativeMiner, parse_yes_no
from reasonir.synth.parsing import ParseError
from reasonir.synth.records import new_hq_record, new_item, new_vl_record
from reasonir.types import Document


def cfg(**kw) -> SynthesizeConfig:
    base = dict(out="unused", input=["x"], max_attempts=2, neg_min_words=40, vl_min_words=60)
    base.update(kw)
    return SynthesizeConfig(**base)


def hq_rec(i: int, query: str, pos: str):
    rec = new_hq_record(f"d{i}", pos, i, None)
    rec["items"] = [new_item(query, pos)]
    return rec


def test_llm_negative_min_length_by_kind_and_retry():
    def reply(prompt, params):
        t = prompt[1]["content"]
        if "stubborn" in t:
            return json.dumps({"hard_negative_document": "far too short"})
        if "copycat" in t:
            return json.dumps({"hard_negative_document": t.split("<positive_document>\n")[1].split("\n</positive")[0]})
        return default_reply(prompt, params)

    hq = hq_rec(0, "why do bridges resonate", words_text("pos0", 80))
    stubborn = hq_rec(1, "stubborn query", words_text("pos1", 80))
    copy = hq_rec(2, "copycat query", words_text("pos2", 80))
    vl = new_vl_record("Given an essay, retrieve rebuttals", 0, 0, 60, 60)
    vl["items"] = [new_item(words_text("vq", 70), words_text("vp", 70))]
    llm = ScriptedLLM(reply)
    out = LLMNegativeStage(cfg(), llm)([hq, stubborn, copy, vl])
    assert [n["source"] for n in out[0]["items"][0]["negs"]] == ["llm"]
    assert len(out[0]["items"][0]["negs"][0]["text"].split()) >= 40
    assert len(out[3]["items"][0]["negs"][0]["text"].split()) >= 60          # VL minimum applies to VL
    assert out[1]["items"][0]["negs"] == [] and out[1]["items"][0]["llm_negative_failed"]
    assert out[1]["trace"]["llm_negative"]["parse_failures"] == {"negative_too_short": 2}
    assert out[2]["items"][0]["negs"] == []
    assert out[2]["trace"]["llm_negative"]["parse_failures"] == {"negative_copies_positive": 2}
    assert out[0]["negative_prompt_version"] == "neg-1"
    # idempotent: items that already have an LLM negative are not asked again
    before = llm.calls
    LLMNegativeStage(cfg(), llm)(out)
    assert llm.calls == before + 2 * 2                                       # only the two failures retry


def _corpus():
    docs = [Document(f"n{i}", "volcano eruption magma " * (30 - i) + f"filler{i}") for i in range(30)]
    docs.append(Document("src", "volcano eruption magma source document"))
    docs.append(Document("copy", "volcano eruption magma source document"))
    return docs


@pytest.mark.parametrize("method", ["bm25", "bm25q"])
def test_miner_skips_top_ranks_source_and_copies(method):
    miner = NegativeMiner(_corpus(), method)
    full = miner.candidates(["volcano eruption magma"], ["volcano eruption magma source document"], ["src"], skip=0, depth=40)[0]
    ids = [c["id"] for c in full]
    assert "src" not in ids and "copy" not in ids and len(ids) == 30
    cands = miner.candidates(["volcano eruption magma"], ["volcano eruption magma source document"], ["src"],
                             skip=5, depth=3)[0]
    ranked_ids = [i for i in [miner.ids[j] for j in miner._rank(["volcano eruption magma"], 40)[0]]]
    expected = [d for d in ranked_ids[5:] if d not in ("src", "copy")][:3]
    assert [c["id"] for c in cands] == expected and all(c["rank"] >= 5 for c in cands)


def test_dense_miner_with_hash_encoder():
    from reasonir.encode.hashing import HashingEncoder

    miner = NegativeMiner(_corpus(), "dense", HashingEncoder(dim=64))
    cands = miner.candidates(["volcano magma"], ["unrelated positive"], ["src"], skip=2, depth=4)[0]
    assert len(cands) == 4 and all(c["id"] != "src" for c in cands)


def test_mine_stage_with_and_without_judge():
    corpus = [Document(f"c{i}", f"topic words shared {'answer key' if i % 2 == 0 else 'back ground'} {i}") for i in range(12)]
    miner = NegativeMiner(corpus, "bm25")
    recs = [hq_rec(0, "topic words shared", "the positive text")]
    out = MineStage(cfg(mine_skip=1, mine_negatives=2, mine_depth=10), miner)(recs)
    negs = out[0]["items"][0]["negs"]
    assert [n["source"] for n in negs] == ["bm25", "bm25"] and all(n["rank"] >= 1 for n in negs)

    def judge(prompt, params):
        doc = prompt[0]["content"].split("<document>\n")[1]
        return "Yes, it answers." if "answer key" in doc else "No."
    llm = ScriptedLLM(judge)
    recs = [hq_rec(0, "topic words shared", "the positive text")]
    out = MineStage(cfg(mine_skip=0, mine_negatives=2, mine_depth=10, judge_negatives=True, judge_candidates=3),
                    miner, llm)(recs)
    item = out[0]["items"][0]
    assert len(item["negs"]) == 2 and all("back ground" in n["text"] for n in item["negs"])
    assert item["judge_rejected"] >= 1 and llm.calls == 6
    assert out[0]["judge_prompt_version"] == "negjudge-1"


@pytest.mark.parametrize("text, verdict", [("Yes.", True), ("no", False), ("**No** - it does not", False),
                                           ("Answer: yes, partly", True)])
def test_parse_yes_no(text, verdict):
    assert parse_yes_no(text) is verdict


def test_parse_yes_no_failure():
    with pytest.raises(ParseError):
        parse_yes_no("Maybe")


def test_expand_stage_replaces_and_keeps_original():
    llm = ScriptedLLM(default_reply)
    recs = [hq_rec(0, "why do bridges resonate", "pos")]
    out = ExpandStage(cfg(expand=True, expand_mode="append", expand_max_tokens=64), llm)(recs)
    item = out[0]["items"][0]
    assert item["query_original"] == "why do bridges resonate"
    assert item["query"].startswith("why do bridges resonate\n\nThe essential problem is X")
    assert out[0]["trace"]["expand"]["prompts"] == 1 and out[0]["expand_prompt_version"] == "rewrite-1"


def test_lenient_negatives_accept_plain_text_only_when_enabled():
    prose = words_text("prose", 50)

    def reply(prompt, params):
        t = prompt[1]["content"]
        if "echo" in t:
            return "The document must not mention the positive document or these instructions. " + prose
        if "jsonish" in t:
            return '{"title": "no document field"} ' + prose
        return prose

    recs = [hq_rec(0, "plain query", words_text("p0", 80)), hq_rec(1, "echo query", words_text("p1", 80)),
            hq_rec(2, "jsonish query", words_text("p2", 80))]
    strict = LLMNegativeStage(cfg(), ScriptedLLM(reply))(copy.deepcopy(recs))
    assert all(r["items"][0]["negs"] == [] for r in strict)
    out = LLMNegativeStage(cfg(lenient=True), ScriptedLLM(reply))(recs)
    assert [n["text"] for n in out[0]["items"][0]["negs"]] == [prose]
    assert out[1]["items"][0]["negs"] == [] and out[1]["trace"]["llm_negative"]["parse_failures"] == {
        "negative_mentions_prompt": 2}
    assert out[2]["items"][0]["negs"] == []


@pytest.mark.parametrize("text", ["The response must contain four bullet points.",
                                  "Write it in at least 40 words about statins.",
                                  "This differs from the positive document in scope."])
def test_negatives_that_echo_the_prompt_are_rejected(text):
    from reasonir.synth.negatives import check_negative

    with pytest.raises(ParseError) as err:
        check_negative(text + " " + words_text("x", 50), "unrelated positive", 20)
    assert err.value.reason == "negative_mentions_prompt"
