"""Rerankers: grade parsing, expected grades, combination, the pipeline, the workflow and CLI."""

from __future__ import annotations

import json
import math
import re

import pytest
from llm_fakes import make_bright_dir

from reasonir.errors import ConfigError
from reasonir.io import read_run, write_run
from reasonir.llm import FunctionLLM, Generation, load_llm
from reasonir.prompts import rerank as rerank_prompts
from reasonir.rerank import (
    LLMReranker,
    PairScore,
    combine_scores,
    expected_grade,
    parse_grade,
    rerank_run,
)
from reasonir.workflows.rerank import RerankConfig, run_rerank


@pytest.mark.parametrize("text,grade,method", [
    ("Relevance score: 4.", 4.0, "marker"),
    ("Relevance score: 4", 4.0, "marker"),
    ("**Relevance Score:** 3", 3.0, "marker"),
    ("The doc is useful.\nRelevance score = 4/5", 4.0, "marker"),
    ("relevance score of 8 out of 10", 4.0, "marker"),
    ("Relevance score: four", 4.0, "marker"),
    ("Relevance score: 4.5", 4.5, "marker"),
    ("Relevance score: 2\nOn reflection... Relevance score: 5", 5.0, "marker"),   # the last one counts
    ("Score: 2", 2.0, "generic"),
    ("I'd give it a rating of 1", 1.0, "generic"),
    ("3", 3.0, "bare"),
    (" **5**.", 5.0, "bare"),
    ("4/5", 4.0, "bare"),
    ("I would rate this 3 out of 5 overall.", 3.0, "fraction"),
    ("It is partly relevant: 2", 2.0, "lone"),
])
def test_parse_grade_reads_many_answer_styles(text, grade, method):
    parsed = parse_grade(text)
    assert (parsed.grade, parsed.method, parsed.clamped) == (grade, method, False)


@pytest.mark.parametrize("text", ["", "The document is irrelevant.", "Relevance score: X", "Relevance score: tenuous",
                                  "1. Identify the problem 2. Reason about it and 3. draft"])
def test_parse_grade_fails_honestly(text):
    assert parse_grade(text).grade is None and parse_grade(text).method == "failed"


def test_parse_grade_clamps_out_of_range():
    assert parse_grade("Relevance score: 7").grade == 5.0 and parse_grade("Relevance score: 7").clamped
    assert parse_grade("Relevance score: -1").grade == 0.0


def test_reference_two_character_reading_would_fail_where_we_succeed():
    def reference(text):               # float() of the two characters after the marker, -1 on failure
        i = text.rfind("Relevance score:")
        try:
            return float(text[i + 16:i + 18])
        except ValueError:
            return -1.0

    for text, grade in (("Relevance score:  4", 4.0), ("Relevance score: **3**", 3.0), ("Relevance score:4.5", 4.5),
                        ("Relevance score: five", 5.0)):
        assert reference(text) != grade and parse_grade(text).grade == grade


def test_expected_grade_from_logprobs():
    lps = [{"Rel": -0.01}, {"evance": -0.01}, {" score": -0.01}, {":": -0.01},
           {" 4": math.log(0.6), " 2": math.log(0.3), "4": math.log(0.1), " maybe": math.log(0.05)}]
    toks = ["Rel", "evance", " score", ":", " 4"]
    value, mass = expected_grade(lps, toks)
    assert value == pytest.approx((4 * 0.7 + 2 * 0.3) / 1.0) and mass == pytest.approx(1.0)
    assert expected_grade([{"3": math.log(0.5), "5": math.log(0.5)}])[0] == pytest.approx(4.0)   # bare answer
    assert expected_grade([{"The": -0.1}, {" 3": -0.2}], ["The", " 3"]) is None   # a digit not at a grade position
    assert expected_grade(None) is None


def test_prompt_families_and_task_mapping():
    assert rerank_prompts.family_for("biology") == "stackexchange"
    assert rerank_prompts.family_for("bright/leetcode") == "leetcode"
    assert rerank_prompts.family_for("bright/pony-long") == "pony"
    assert rerank_prompts.family_for("scifact") == "evidence"
    assert rerank_prompts.family_for(None) == rerank_prompts.family_for("trec-covid") == "general"
    texts = {f: rerank_prompts.rerank_text(f, "QQQ", "DDD") for f in rerank_prompts.FAMILIES}
    assert len(set(texts.values())) == len(texts)
    for text in texts.values():
        assert "<query>\nQQQ\n</query>" in text and "<document>\nDDD\n</document>" in text
        assert text.rstrip().endswith("X is a whole number from 0 to 5.") and "Relevance score: X" in text
    # the rendered texts are pinned to PROMPT_VERSION in prompt_pins.py


def _grader(prompt, params):
    """Grade 5 when the document mentions a word of the query's <kw> tag, else 1; 'garble' gives junk."""
    text = prompt[-1]["content"]
    query = re.search(r"<query>\n(.*?)\n</query>", text, re.S).group(1)
    doc = re.search(r"<document>\n(.*?)\n</document>", text, re.S).group(1)
    if "garble" in doc:
        return "I cannot decide."
    hit = any(w in doc for w in query.split() if w.startswith("zqx"))
    return f"Relevance score: {5 if hit else 1}"


def test_llm_reranker_scores_and_counts_failures():
    reranker = LLMReranker(load_llm(FunctionLLM(_grader, "g"), cache=None), family="general", max_doc_words=3)
    out = reranker.score([("zqx1kw q", "about zqx1kw here"), ("zqx1kw q", "nothing"), ("q", "garble garble")])
    assert [s.grade for s in out] == [5.0, 1.0, None] and [s.score for s in out] == [1.0, 0.2, None]
    assert reranker.counters.to_dict()["parse_failures"] == 1
    assert reranker.counters.to_dict()["parse_failure_rate"] == pytest.approx(1 / 3)
    assert reranker.prompt("q", "one two three four five")[0]["content"].count("<document>\none two three\n") == 1


def test_expected_mode_uses_logprobs_and_falls_back():
    def with_lp(prompt, params):
        assert params.logprobs == 5
        gen = Generation(text="Relevance score: 4")
        if "nolp" not in prompt[-1]["content"]:
            gen.logprobs = [{"Relevance": -0.1}, {" score": -0.1}, {":": -0.1},
                            {" 4": math.log(0.5), " 3": math.log(0.5)}]
            gen.metadata["tokens"] = ["Relevance", " score", ":", " 4"]
        return gen

    reranker = LLMReranker(load_llm(FunctionLLM(with_lp, "lp"), cache=None), grade_mode="expected", logprobs=5)
    a, b = reranker.score([("q", "doc"), ("q", "nolp doc")])
    assert (a.grade, a.method, a.extra["digit_mass"]) == (3.5, "expected", 1.0)
    assert (b.grade, b.method) == (4.0, "marker")
    c = reranker.counters.to_dict()
    assert c["expected_used"] == 1 and c["expected_fallback"] == 1


def test_combine_modes_break_ties_like_reasonir():
    rerank = {"q": {"a": 0.8, "b": 0.8, "c": 1.0, "d": None}}
    first = {"q": {"a": 0.30, "b": 0.50, "c": 0.10, "d": 0.90}}
    assert combine_scores(rerank, first, "reranker") == {"q": {"a": 0.8, "b": 0.8, "c": 1.0, "d": 0.0}}
    inter = combine_scores(rerank, first, "interpolate", 0.5)["q"]
    assert inter == pytest.approx({"a": 0.55, "b": 0.65, "c": 0.55, "d": 0.45})
    bm25 = combine_scores(rerank, {"q": {"a": 12.0, "b": 7.0, "c": 3.0}}, "bm25")["q"]
    assert sorted(bm25, key=bm25.get, reverse=True) == ["c", "a", "b", "d"]     # grade first, BM25 within
    assert bm25["d"] == pytest.approx(3.0)                                    # missing score -> query minimum
    with pytest.raises(ConfigError, match="choose one of"):
        combine_scores(rerank, first, "sum")


def test_pipeline_top_k_excluded_and_missing_documents():
    class Echo:
        name = "echo"

        def __init__(self):
            self.seen = []

        def score(self, pairs):
            self.seen.extend(pairs)
            return [PairScore(score=float(len(d))) for _, d in pairs]

    run = {"q1": {"a": 3.0, "b": 2.0, "x": 2.5, "c": 1.0}, "q2": {"a": 1.0, "gone": 5.0}, "other": {"a": 1.0}}
    docs = {"a": "aaa", "b": "bb", "c": "c", "x": "xxxx"}
    echo = Echo()
    res = rerank_run(echo, {"q1": "one", "q2": "two"}, run, docs, top_k=2, excluded_ids={"q1": {"x"}},
                     pairs_per_call=1)
    assert list(res.candidates["q1"]) == ["a", "b"] and "x" not in res.judgements["q1"]
    assert res.missing_documents == 1 and res.judgements["q2"]["gone"].score is None
    assert sorted(echo.seen) == [("one", "aaa"), ("one", "bb"), ("two", "aaa")]
    with pytest.raises(ConfigError, match="no query id"):
        rerank_run(echo, {"zz": "?"}, run, docs)


def _pairs(out_run):
    from reasonir.data import load_bright_local

    rows = [json.loads(line) for line in (out_run.parent / (out_run.name + ".judgements.jsonl")).read_text().splitlines()]
    texts = {d.id: d.text for d in load_bright_local("biology", out_run.parent / "bright").corpus}
    return [(r["qid"], texts[r["doc_id"]], r) for r in rows]


def test_rerank_workflow_on_bright_format_data(tmp_path, bright_dir):
    root, examples, keywords = make_bright_dir(tmp_path / "bright", bright_dir)
    # a cosine-scaled first-stage run that puts every query's distractors above its gold documents
    run = {}
    for ex in examples:
        docs = {f"distractor_{ex['id']}_{j}": 0.9 - 0.02 * j for j in range(8)}
        docs.update({g: 0.3 - 0.01 * i for i, g in enumerate(ex["gold_ids"])})
        run[ex["id"]] = docs
    write_run(tmp_path / "first.trec", run)
    variant = tmp_path / "variant.jsonl"
    variant.write_text("".join(json.dumps({"id": ex["id"], "query": f"{ex['query']} {keywords[ex['id']]}"}) + "\n"
                               for ex in examples))
    cache = tmp_path / "c.sqlite"
    cfg = RerankConfig(run=str(tmp_path / "first.trec"), dataset=f"bright:biology@{root}", top_k=20,
                       query_variant=str(variant), out=str(tmp_path / "rr.trec"), llm_cache=str(cache))
    llm = load_llm(FunctionLLM(_grader, "grader"), cache=cache)
    out = run_rerank(cfg, reranker=LLMReranker(llm, family="stackexchange"))
    assert out.metrics["retriever"]["ndcg@10"] < 0.5
    assert out.metrics["reranker"]["ndcg@10"] == pytest.approx(1.0)
    assert out.metrics["interpolate"]["ndcg@10"] == pytest.approx(1.0)
    assert out.grades["parse_failures"] == 0 and out.pairs == sum(8 + len(ex["gold_ids"]) for ex in examples)
    final = read_run(tmp_path / "rr.trec")
    for ex in examples:
        top = sorted(final[ex["id"]], key=final[ex["id"]].get, reverse=True)[: len(ex["gold_ids"])]
        assert set(top) == set(ex["gold_ids"])
    saved = json.loads((tmp_path / "rr.trec.config.json").read_text())
    llm_stats = saved["llm_stats"]
    assert saved["grades"]["pairs"] == out.pairs and llm_stats["calls"] + llm_stats["cache_hits"] == out.pairs
    assert llm_stats["calls"] == len({(out.dataset.queries[q], d) for q, d, _ in _pairs(tmp_path / "rr.trec")})
    rows = (tmp_path / "rr.trec.judgements.jsonl").read_text().splitlines()
    assert len(rows) == out.pairs and json.loads(rows[0])["method"] == "marker"
    metrics = json.loads((tmp_path / "rr.trec.metrics.json").read_text())
    assert set(metrics["variants"]) == {"retriever", "reranker", "interpolate"} and metrics["final"] == "interpolate"

    # the same job again: every grade comes from the cache
    again = load_llm(FunctionLLM(_grader, "grader"), cache=cache)
    out2 = run_rerank(cfg, reranker=LLMReranker(again, family="stackexchange"))
    assert again.stats.calls == 0 and again.stats.cache_hits == out.pairs and out2.metrics == out.metrics
    assert out2.llm["calls"] == 0


def test_cross_encoder_reranker_runs_offline(tmp_path):
    pytest.importorskip("sentence_transformers")
    from reasonir.embedded import minilm_path
    from reasonir.errors import DependencyError
    from reasonir.rerank import CrossEncoderReranker

    try:
        path = minilm_path()
    except DependencyError as exc:
        pytest.skip(str(exc))
    # a pretrained encoder with an untrained one-logit head: exercises the plumbing, not quality
    ce = CrossEncoderReranker(str(path), max_length=64, batch_size=4, device="cpu")
    pairs = [("what do plants make", "photosynthesis makes sugar"), ("q", "stock market news"), ("a", "b")]
    first, second = ce.score(pairs), ce.score(pairs)
    assert len(first) == 3 and all(isinstance(s.score, float) and s.method == "cross-encoder" for s in first)
    assert [s.score for s in first] == pytest.approx([s.score for s in second])
    assert ce.name.startswith("cross-encoder:") and ce.score([]) == []


def test_rerank_cli(tmp_path, bright_dir, capsys):
    from reasonir.cli import main
    from reasonir.llm.server import LLMServer

    root, examples, keywords = make_bright_dir(tmp_path / "bright", bright_dir, n=2)
    write_run(tmp_path / "first.trec", {ex["id"]: {g: 1.0 for g in ex["gold_ids"]} |
                                        {f"distractor_{ex['id']}_{j}": 2.0 for j in range(8)} for ex in examples})
    with LLMServer(FunctionLLM(_grader, "grader", concurrency=4), model_name="grader") as srv:
        rc = main(["rerank", "--run", str(tmp_path / "first.trec"), "--dataset", f"bright:biology@{root}",
                   "--reranker", srv.spec, "--top-k", "5", "--metrics", "ndcg@5,recall@5",
                   "--out", str(tmp_path / "rr.trec"),
                   "--llm-cache", str(tmp_path / "c.sqlite"), "--concurrency", "4", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["pairs"] == 10 and summary["llm"]["calls"] == 10 and summary["grades"]["parse_failures"] == 0
    assert set(summary["metrics"]) == {"retriever", "reranker", "interpolate"}
    with pytest.raises(SystemExit):
        main(["rerank", "--run", "x", "--dataset", "beir:y", "--combine", "average"])
