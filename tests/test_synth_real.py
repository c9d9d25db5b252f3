"""Each synthesizer stage once against the real embedded SmolLM2-135M-Instruct (CPU).

A 135M model rarely follows the JSON contracts, so these tests check the mechanics with real
replies: every answer is either accepted (and then satisfies the stage's checks) or counted as a
parse failure; nothing below a minimum length is ever written. Only the tiny judge test runs by
default; the others are ``slow``.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from reasonir.synth.config import SynthesizeConfig  # noqa: E402
from reasonir.synth.negatives import LLMNegativeStage, MineStage, NegativeMiner  # noqa: E402
from reasonir.synth.records import new_hq_record, new_item, new_vl_record  # noqa: E402
from reasonir.types import Document  # noqa: E402

pytestmark = pytest.mark.integration     # a real model end to end

DOC = ("Vaccines expose the immune system to an antigen without causing disease. Memory B and T cells formed "
       "after vaccination respond faster on a later infection, which is why the second exposure is milder.")
QUERY = ("A school nurse sees that vaccinated pupils recover faster from measles than unvaccinated ones during an "
         "outbreak; which immune mechanisms explain the difference?")


@pytest.fixture(scope="module")
def smollm2():
    from reasonir.errors import DependencyError
    from reasonir.llm import load_llm

    try:
        return load_llm("smollm2", cache=None, batch_size=4, device="cpu")
    except DependencyError as exc:
        pytest.skip(str(exc))


def cfg(**kw):
    base = dict(out="unused", input=["x"], max_attempts=1, doc_max_words=60, batch_size=4)
    base.update(kw)
    return SynthesizeConfig(**base)


def hq_rec():
    rec = new_hq_record("d0", DOC, 0, None)
    rec["items"] = [new_item(QUERY, DOC)]
    return rec


def test_negative_judge_with_smollm2(smollm2):
    corpus = [Document("a", "Measles vaccination and memory lymphocytes in children."),
              Document("b", "Vaccine storage temperatures for school clinics."),
              Document("c", "Measles outbreak timelines in schools.")]
    out = MineStage(cfg(mine_skip=0, mine_negatives=1, mine_depth=3, judge_negatives=True, judge_candidates=2,
                           judge_max_tokens=3),
                    NegativeMiner(corpus, "bm25"), smollm2)([hq_rec()])
    item = out[0]["items"][0]
    trace = out[0]["trace"]["judge"]
    assert trace["prompts"] == 2 and trace["calls"] == 2
    accepted = len(item["negs"])
    assert accepted + item.get("judge_rejected", 0) + item.get("judge_unparsed", 0) == 2
    assert item.get("judge_unparsed", 0) == trace["failures"]


@pytest.mark.slow
def test_hq_stage_with_smollm2(smollm2):
    from reasonir.synth.hq import HQStage, check_query

    recs = [new_hq_record(f"d{i}", DOC + f" Case {i}.", i, None) for i in range(2)]
    out = HQStage(cfg(hq_max_tokens=64, lenient=True, max_attempts=2), smollm2)(recs)
    for r in out:
        t = r["trace"]["hq"]
        assert 1 <= t["prompts"] <= 2 and t["calls"] == t["prompts"]
        if r["dropped"] is None:
            assert r["items"] and all(check_query(it["query"], 8) is None for it in r["items"])
        else:
            assert t["failures"] == 1 and sum(t["parse_failures"].values()) == t["prompts"]


@pytest.mark.slow
def test_llm_negative_and_vl_pair_with_smollm2(smollm2):
    from reasonir.synth.vl import VLPairStage

    c = cfg(neg_min_words=30, neg_max_tokens=96, vl_min_words=30, vl_length_range=[30, 40], vl_max_tokens=128)
    out = LLMNegativeStage(c, smollm2)([hq_rec()])
    negs = out[0]["items"][0]["negs"]
    assert all(len(n["text"].split()) >= 30 for n in negs)
    assert bool(negs) != bool(out[0]["trace"]["llm_negative"]["failures"])
    vl = VLPairStage(c, smollm2)([new_vl_record("Given an essay, retrieve essays arguing the opposite", 0, 0, 30, 30)])
    if vl[0]["dropped"] is None:
        item = vl[0]["items"][0]
        assert len(item["query"].split()) >= 30 and len(item["pos"].split()) >= 30
    else:
        assert vl[0]["trace"]["vl_pair"]["failures"] == 1


@pytest.mark.slow
def test_edu_judge_and_expansion_with_smollm2(smollm2):
    from reasonir.synth.edu import LLMJudgeScorer
    from reasonir.synth.expand import ExpandStage

    scores = LLMJudgeScorer(smollm2, max_tokens=8, max_attempts=1).score([DOC, "BUY NOW cheap watches"])
    assert scores.shape == (2,) and all((s != s) or 0 <= s <= 5 for s in scores)   # NaN or in range
    out = ExpandStage(cfg(expand=True, expand_max_tokens=32), smollm2)([hq_rec()])
    item = out[0]["items"][0]
    assert item["query_original"] == QUERY and item["query"] and json.dumps(out[0]["trace"]["expand"])
