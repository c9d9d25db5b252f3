"""The synthesizer's ``paper`` preset: two-phase HQ generation, query-side BM25 negatives, the
FineWeb-Edu cut, the reasoning expansion, replaceable prompt templates recorded by hash."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from _synth_scripted import default_reply
from fakes import ScriptedLLM
from reasonir.config import build
from reasonir.errors import ConfigError
from reasonir.llm.base import GenerationParams
from reasonir.prompts import synth as P
from reasonir.prompts.presets import load_preset, preset_digest
from reasonir.retrieve.bm25 import BM25Index
from reasonir.synth import SynthesizeConfig, synthesize
from reasonir.synth.pipeline import build_pool
from reasonir.synth.pool import read_documents, text_hash

TOPICS = ("glacier", "enzyme", "tariff", "compiler", "orbit", "mortgage", "neuron", "harbor")


def write_corpus(path: Path, n: int = 8) -> Path:
    """``n`` documents of 40+ distinct words each (one topic word repeated, so queries differ)."""
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        body = " ".join(f"{topic} study{i} measure{j} result{(i * 7 + j) % 13}" for j in range(12))
        rows.append({"_id": f"d{i}", "text": f"{topic} {body}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def text_of(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


def two_phase_reply(bad_first_json: bool = False):
    """Phase 1: free-text work ending in a question; phase 2: that question as JSON (read from the
    assistant turn it is given, so a phase 2 that does not carry phase 1's reply cannot succeed)."""
    def reply(prompt, params: GenerationParams) -> str:
        roles = [m["role"] for m in prompt]
        if "assistant" not in roles:                                     # phase 1
            doc = re.search(r"<document>\n(.*?)\n</document>", prompt[-1]["content"], re.S).group(1)
            topic = doc.split()[0]
            return (f"Step 1: the field is {topic} research.\nStep 2: problems of measurement.\n"
                    f"Final question: A regional team tracking {topic} sees measurements drift after a "
                    f"policy change; how should they decide whether the drift is real?")
        worked = prompt[roles.index("assistant")]["content"]
        if bad_first_json and params.temperature == 0:
            return "Sure, here are the questions."
        question = worked.split("Final question: ", 1)[1]
        return json.dumps({"hard_query": [question]})
    return reply


def hq_cfg(tmp_path: Path, **kw) -> SynthesizeConfig:
    corpus = write_corpus(tmp_path / "docs.jsonl")
    opts = dict(out=str(tmp_path / "out"), input=[str(corpus)], budget=3, llm_negatives=False, mine="none",
                min_negatives=0, near_dup_threshold=0.0, batch_size=8, llm="scripted")
    opts.update(kw)
    return SynthesizeConfig(**opts)


# --------------------------------------------------------------------------------------------------
# two-phase HQ
# --------------------------------------------------------------------------------------------------
def test_two_phase_hq_sends_reasoning_then_a_json_turn_that_carries_it(tmp_path):
    assert SynthesizeConfig(out="o").hq_mode == "one-phase"                 # our default stays one phase
    cfg = hq_cfg(tmp_path, hq_mode="two-phase")
    llm = ScriptedLLM(reply=two_phase_reply())
    res = synthesize(cfg, llm=llm)
    assert llm.calls == 6                                                   # 3 documents x 2 phases
    phase1, phase2 = llm.prompts[:3], llm.prompts[3:]
    for p1, p2, ex in zip(phase1, phase2, res.examples):
        assert [m["role"] for m in p1] == ["system", "user"]
        assert p1[0]["content"] == P.DEFAULT.texts["hq_reason_system"].format(num_questions=1)
        assert "hard_query" not in text_of(p1)                              # phase 1 asks for work, not JSON
        assert [m["role"] for m in p2] == ["system", "user", "assistant", "user"]
        assert p2[:2] == p1                                                 # the same conversation ...
        assert p2[2]["content"] == two_phase_reply()(p1, GenerationParams())  # ... with phase 1's reply
        assert p2[3]["content"] == P.DEFAULT.texts["hq_format_user"].format(num_questions=1)
        topic = ex.pos[0].split()[0]
        assert ex.query.startswith(f"A regional team tracking {topic} sees") and ex.query.endswith("real?")
        assert ex.metadata["prompt_version"] == "hq-reason-1"
    assert len(res.examples) == 3
    assert res.stats["stages"]["hq_reason"]["llm"]["prompts"] == 3
    assert res.stats["stages"]["hq"]["llm"]["prompts"] == 3


def test_two_phase_retries_only_the_json_turn(tmp_path):
    cfg = hq_cfg(tmp_path, hq_mode="two-phase")
    llm = ScriptedLLM(reply=two_phase_reply(bad_first_json=True))
    res = synthesize(cfg, llm=llm)
    assert llm.calls == 3 + 3 + 3                    # phase 1 once, phase 2 failed once and retried
    assert sum("assistant" not in [m["role"] for m in p] for p in llm.prompts) == 3
    assert len(res.examples) == 3
    assert res.stats["stages"]["hq"]["llm"]["parse_failures"]


# --------------------------------------------------------------------------------------------------
# the preset
# --------------------------------------------------------------------------------------------------
PAPER = {                                   # option -> the published value (facts section E)
    "hq_mode": "two-phase",                 # step-by-step work, then a JSON reformat
    "hq_per_doc": 1,                        # scripts: --queries_per_doc 1
    "hq_max_tokens": 1536,                  # vLLM max_tokens
    "temperature": 0.0,                     # greedy
    "max_attempts": 3,                      # 3 attempts per document
    "edu_scorer": "fineweb-edu",            # the FineWeb-Edu classifier filter
    "edu_threshold": 2.0,                   # the paper's cut (released code: 1)
    "near_dup_threshold": 0.0,              # exact-text dedup only
    "llm_negatives": True,                  # negative written in its own turn
    "neg_min_words": 300,                   # long negatives
    "neg_max_tokens": 1536,                 # vLLM max_tokens
    "mine": "bm25q",                        # BRIGHT's query-side BM25
    "mine_skip": 20,                        # hard_neg_start_index=20
    "mine_negatives": 1,                    # num_neg=1
    "judge_negatives": False,               # no LLM check of mined negatives
    "expand_prompt": "reason",              # reasoning expansion, not the rewrite prompt
    "vl_length_range": [300, 2000],         # VL lengths
}


@pytest.fixture(scope="module")
def paper_cfg() -> SynthesizeConfig:
    return build(SynthesizeConfig, {**load_preset("paper", "synthesize"), "out": "o", "input": ["x"],
                                    "preset": "paper"}).check()


@pytest.mark.parametrize("option", sorted(PAPER))
def test_paper_preset_value(paper_cfg, option):
    assert getattr(paper_cfg, option) == PAPER[option]


def test_paper_preset_sets_exactly_the_pinned_options_and_cites_each():
    assert set(load_preset("paper", "synthesize")) == set(PAPER)
    text = (Path(P.__file__).parent / "presets" / "paper" / "synthesize.yaml").read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), f"no source comment above {line!r}"
    assert SynthesizeConfig.PRESET_SECTION == "synthesize"


def test_our_defaults_where_the_preset_differs():
    cfg = SynthesizeConfig(out="o")
    assert (cfg.hq_mode, cfg.mine, cfg.expand_prompt, cfg.edu_threshold) == ("one-phase", "bm25", "rewrite", 2.0)


# --------------------------------------------------------------------------------------------------
# mined negatives with query-side BM25
# --------------------------------------------------------------------------------------------------
def test_bm25q_negatives_are_mined_when_selected(tmp_path):
    cfg = hq_cfg(tmp_path, mine="bm25q", mine_skip=2, mine_negatives=1, min_negatives=1)
    cfg.mine_corpus = list(cfg.input)
    res = synthesize(cfg, llm=ScriptedLLM(default_reply))
    docs = read_documents(cfg.input[0])
    index = BM25Index.build([d.full_text for d in docs], [d.id for d in docs], k1=0.9, b=0.4)
    assert len(res.examples) == 3
    for ex in res.examples:
        assert ex.metadata["neg_sources"] == ["bm25q"]
        (ranking, _), = index.search_arrays([ex.query], k=len(docs), mode="bm25q")
        expected = [docs[i].id for i in ranking.tolist()[2:]
                    if docs[i].id != ex.metadata["source_doc_id"] and text_hash(docs[i].full_text) != text_hash(ex.pos[0])]
        assert ex.metadata["mined_neg_ids"] == expected[:1]


# --------------------------------------------------------------------------------------------------
# the educational-value cut
# --------------------------------------------------------------------------------------------------
def test_edu_cut_filters_as_configured(tmp_path):
    """The scripted judge scores ``words // 10``: documents of 12, 15, 25, 35, 45 words score 1, 1, 2, 3, 4."""
    rows = [{"_id": f"e{n}", "text": " ".join(f"w{n}x{i}" for i in range(n))} for n in (12, 15, 25, 35, 45)]
    path = tmp_path / "edu.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    llm = ScriptedLLM(default_reply)
    for threshold, kept in ((1.0, ["e45", "e35", "e25", "e12", "e15"]), (2.0, ["e45", "e35", "e25"]),
                            (4.0, ["e45"])):
        cfg = SynthesizeConfig(out=str(tmp_path / f"out{threshold}"), input=[str(path)], edu_scorer="llm",
                               edu_threshold=threshold, min_words=1, near_dup_threshold=0.0)
        pool, _ = build_pool(cfg, lambda: llm)
        assert [p.doc.id for p in pool.docs] == kept
        assert pool.counts["dropped_low_score"] == 5 - len(kept)


# --------------------------------------------------------------------------------------------------
# reasoning expansion
# --------------------------------------------------------------------------------------------------
def test_reason_expansion_sends_the_reasoning_template(tmp_path):
    cfg = hq_cfg(tmp_path, expand=True, expand_prompt="reason", expand_mode="append", budget=2)
    llm = ScriptedLLM(default_reply)
    res = synthesize(cfg, llm=llm)
    expand_prompts = llm.prompts[2:]
    assert len(expand_prompts) == 2
    for prompt, ex in zip(expand_prompts, res.examples):
        original = ex.metadata["query_original"]
        assert prompt == [{"role": "system", "content": P.DEFAULT.texts["expand_reason_system"]},
                          {"role": "user", "content": original}]
        assert ex.query == original + "\n\n" + default_reply(prompt, GenerationParams())
        assert ex.metadata["expand_prompt_version"] == "expand-reason-1"


# --------------------------------------------------------------------------------------------------
# replaceable templates, recorded by hash
# --------------------------------------------------------------------------------------------------
def test_replaced_template_changes_the_prompt_and_its_hash_is_recorded(tmp_path):
    mine = tmp_path / "my_reason_user.txt"
    mine.write_text("MY WORDING. Read this:\n<document>\n{document}\n</document>\nThen work it out ({num_questions}).\n")
    cfg = hq_cfg(tmp_path, hq_mode="two-phase", prompt_template=[f"hq_reason_user={mine}"], preset="paper")
    llm = ScriptedLLM(reply=two_phase_reply())
    res = synthesize(cfg, llm=llm)
    first = llm.prompts[0][1]["content"]
    assert first.startswith("MY WORDING. Read this:\n<document>\n") and first.endswith("Then work it out (1).")
    want = hashlib.sha256(mine.read_text()[:-1].encode()).hexdigest()
    manifest = json.loads(Path(res.paths["config"]).read_text())
    for record in (manifest, res.stats["prompts"]):
        assert record["prompt_templates"]["hq_reason_user"] == {"sha256": want, "source": str(mine)}
        builtin = P.DEFAULT.texts["hq_format_user"]
        assert record["prompt_templates"]["hq_format_user"]["sha256"] == hashlib.sha256(builtin.encode()).hexdigest()
        assert record["preset"] == "paper" and record["preset_sha256"] == preset_digest("paper", "synthesize")
    assert manifest["config"]["preset"] == "paper"
    version = res.examples[0].metadata["prompt_version"]
    assert version.startswith("hq-reason-1+user-") and version != "hq-reason-1"

    other = tmp_path / "other.txt"                     # another wording: another prompt, another hash
    other.write_text("OTHER.\n<document>\n{document}\n</document>\n")
    cfg2 = hq_cfg(tmp_path, out=str(tmp_path / "out2"), hq_mode="two-phase", prompts={"hq_reason_user": str(other)})
    llm2 = ScriptedLLM(reply=two_phase_reply())
    res2 = synthesize(cfg2, llm=llm2)
    assert llm2.prompts[0][1]["content"].startswith("OTHER.\n<document>\n")
    assert res2.stats["prompts"]["prompt_templates"]["hq_reason_user"]["sha256"] != want


@pytest.mark.parametrize("entry, text, match", [
    ("hq_reason_user={path}", "Look at {doc}\n", r"placeholder \{doc\}.*\{document\}"),
    ("hq_reason_user={path}", "JSON like {\"a\": 1}\n", r"placeholder|format string"),
    ("no_such_prompt={path}", "x\n", "unknown name.*hq_reason_user"),
    ("hq_reason_user", "x\n", "NAME=FILE"),
])
def test_bad_template_replacements_are_refused_by_name(tmp_path, entry, text, match):
    path = tmp_path / "t.txt"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        SynthesizeConfig(out="o", input=["x"], prompt_template=[entry.format(path=path)]).check()
