"""Closed-book vs retrieval-augmented answering with a scripted LLM: prompts, rows, resume, queries."""

import json

import pytest
from fakes import ScriptedLLM

from reasonir.errors import ConfigError
from reasonir.llm.base import GenerationParams
from reasonir.prompts import rag as P
from reasonir.rag.passages import Passage, RunPassageSource
from reasonir.rag.pipeline import EvalSettings, evaluate_questions, retrieval_queries
from reasonir.rag.questions import MCQuestion
from reasonir.rag.stats import summarize


def _user(prompt):
    return prompt[-1]["content"]


QS = [MCQuestion(f"anatomy/test/{i}", f"Which bone number {i}?", ("femur", "tibia", "ulna", "radius"),
                 i % 4, "anatomy", "stem", "mmlu") for i in range(8)]
GOLD = {q.question: q.gold for q in QS}


def _gold_of(text):
    return next(g for q, g in GOLD.items() if q in text)


def mmlu_reply(prompt, params=None):
    text = _user(prompt)
    if text.startswith(P.MMLU_BACKGROUND_HEADER):            # with passages: always right
        return f"Bones are listed above. The answer is ({_gold_of(text)})."
    gold = _gold_of(text)
    n = int(text.split("Which bone number ")[1].split("?")[0])
    if n % 3 == 0:
        return "I cannot decide."                           # unparseable
    return f"The answer is ({'ABCD'[('ABCD'.index(gold) + 1) % 4]})."   # wrong


def _source():
    run = {q.id: {f"d{j}": 10.0 - j for j in range(5)} for q in QS}
    texts = {f"d{j}": f"passage text {j}" for j in range(5)}
    return RunPassageSource(run, texts)


def test_closed_and_rag_rows_and_prompts():
    llm = ScriptedLLM(mmlu_reply, tokens=(11, 7))
    out = evaluate_questions(QS, llm, _source(), EvalSettings(batch_size=3))
    assert len(llm.batches) == 6                                   # 8 closed + 8 rag in batches of 3
    rag_prompt = _user(llm.batches[3][0][0])
    # passages (top-3 by score) come before the question, in rank order
    i0, i1, i2 = (rag_prompt.index(f"passage text {j}") for j in range(3))
    assert i0 < i1 < i2 < rag_prompt.index("Which bone number 0?")
    assert "passage text 3" not in rag_prompt
    assert "Question:" in llm.batches[0][1].stop                   # MMLU answers stop at a new question
    rows = out.rows
    assert [r["id"] for r in rows] == [q.id for q in QS]
    assert all(r["rag"]["correct"] for r in rows)
    assert [r["closed"]["pred"] is None for r in rows] == [i % 3 == 0 for i in range(8)]
    assert rows[0]["rag"]["passages"][0] == {"doc_id": "d0", "score": 10.0,
                                             "text_sha256": rows[0]["rag"]["passages"][0]["text_sha256"]}
    s = summarize(rows, bootstrap_samples=200, seed=1)
    assert s["conditions"]["rag"]["accuracy"] == 1.0
    assert s["conditions"]["closed"]["accuracy"] == 0.0
    assert s["conditions"]["closed"]["parse_failures"] == 3
    fb = [r["closed"]["fallback"] == r["gold"] for r in rows if r["closed"]["pred"] is None]
    assert s["conditions"]["closed"]["accuracy_with_fallback"] == sum(fb) / 8
    assert s["difference"]["strict"]["delta"] == 1.0
    assert out.usage["generations"] == 16 and out.usage["completion_tokens"] == 16 * 7


def test_generation_checkpoint_resumes_and_invalidates(tmp_path):
    llm = ScriptedLLM(mmlu_reply)
    first = evaluate_questions(QS, llm, _source(), EvalSettings(batch_size=4), out_dir=tmp_path)
    again = ScriptedLLM(mmlu_reply)
    second = evaluate_questions(QS, again, _source(), EvalSettings(batch_size=4), out_dir=tmp_path)
    assert again.batches == [] and second.rows == first.rows
    # a torn last line (crash mid-write) is dropped and regenerated
    path = tmp_path / "generations.rag.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20], encoding="utf-8")
    third = ScriptedLLM(mmlu_reply)
    evaluate_questions(QS, third, _source(), EvalSettings(batch_size=4), out_dir=tmp_path)
    assert sum(len(p) for p, _ in third.batches) == 1
    # changing k changes the rag prompts only: closed-book answers are reused
    fourth = ScriptedLLM(mmlu_reply)
    evaluate_questions(QS, fourth, _source(), EvalSettings(batch_size=4, k=2), out_dir=tmp_path)
    assert sum(len(p) for p, _ in fourth.batches) == 8
    assert all("passage text 2" not in _user(p) for p in fourth.batches[0][0])


def test_query_modes():
    llm = ScriptedLLM(lambda p, _: "femur search terms\nsecond line" if "Search query:" in _user(p) else "x")
    assert retrieval_queries(QS[:1], "question")[QS[0].id] == "Which bone number 0?"
    assert retrieval_queries(QS[:1], "question_options")[QS[0].id].endswith("C. ulna\nD. radius")
    assert retrieval_queries(QS[:2], "rewrite", llm) == {QS[0].id: "femur search terms",
                                                         QS[1].id: "femur search terms"}
    with pytest.raises(ConfigError):
        retrieval_queries(QS[:1], "rewrite")

    class Closed:
        text = "The femur is longest.\nThe answer is (A)."

    assert retrieval_queries(QS[:1], "cot", closed={QS[0].id: Closed})[QS[0].id] == "The femur is longest."


def test_cot_query_reaches_the_passage_source():
    seen = {}

    class Recorder:
        name = "recorder"

        def search(self, queries, k):
            seen.update(queries)
            return {q: [Passage("d", 1.0, "ctx")] for q in queries}

    llm = ScriptedLLM(lambda p, _: "Long bones bear weight.\n\nThe answer is (A).")
    out = evaluate_questions(QS[:2], llm, Recorder(), EvalSettings(conditions=("rag",), query="cot"))
    assert seen == {q.id: "Long bones bear weight." for q in QS[:2]}
    assert "closed" not in out.rows[0] and out.rows[0]["rag"]["query"] == "Long bones bear weight."


def test_settings_are_checked():
    with pytest.raises(ConfigError):
        evaluate_questions(QS, ScriptedLLM(mmlu_reply), None, EvalSettings())   # rag without a source
    with pytest.raises(ConfigError):
        evaluate_questions(QS, ScriptedLLM(mmlu_reply), _source(), EvalSettings(query="hyde"))
    with pytest.raises(ConfigError):
        evaluate_questions([], ScriptedLLM(mmlu_reply), _source(), EvalSettings())


def test_gpqa_rows_never_hold_question_text(data_dir, tmp_path):
    from reasonir.rag.benchmarks import load_gpqa

    qs = load_gpqa(data_dir / "gpqa" / "gpqa_diamond.zip", seed=12345)[:6]
    gold = {q.id: q.gold for q in qs}

    def reply(prompt, params):
        text = _user(prompt)
        asks_for_box = "\\boxed{" in text
        assert asks_for_box
        q = next(q for q in qs if q.question in text)
        if text.startswith(P.GPQA_PASSAGES_HEADER):
            ordered = text.index("Passage 1:") < text.index("Passage 5:") < text.index(q.question)
            assert ordered
            return f"Reasoning quoting the question: {q.question} ... \\boxed{{{gold[q.id]}}}"
        return f"{q.options[0]} therefore \\boxed{{{'ABCD'[(q.answer + 1) % 4]}}}"

    run = {q.id: {f"p{j}": 1.0 / (j + 1) for j in range(7)} for q in qs}
    source = RunPassageSource(run, {f"p{j}": f"doc {j}" for j in range(7)})
    out = evaluate_questions(qs, ScriptedLLM(reply), source, EvalSettings(), out_dir=tmp_path)
    blob = json.dumps(out.rows) + "".join(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())
    # (booleans first, so a failure message can never print GPQA text)
    leaked = [q.id for q in qs if q.question[:60] in blob or json.dumps(q.question[:60])[1:-1] in blob]
    leaked += [q.id for q in qs for opt in q.options       # long options are unique enough to search
               if len(opt) >= 12 and json.dumps(opt)[1:-1] in blob]
    assert not leaked, f"GPQA text of {sorted(set(leaked))} written out"
    assert all(len(r["rag"]["passages"]) == 5 for r in out.rows)
    s = summarize(out.rows, bootstrap_samples=100)
    assert s["conditions"]["rag"]["accuracy"] == 1.0 and s["conditions"]["closed"]["accuracy"] == 0.0
    assert all(r["option_order"] and len(r["question_sha256"]) == 64 for r in out.rows)


def test_rewrite_params_are_separate():
    llm = ScriptedLLM(lambda p, _: "q" if "Search query:" in _user(p) else "The answer is (A).")
    settings = EvalSettings(query="rewrite", rewrite_params=GenerationParams(max_tokens=17))
    evaluate_questions(QS[:1], llm, _source(), settings)
    assert sorted(params.max_tokens for _, params in llm.batches) == [17, 2048, 2048]


def test_sensitive_checkpoint_scores_resumed_items_without_their_text(tmp_path):
    # GPQA checkpoints keep no output text: a resumed run must score from the stored extraction,
    # not count every reused answer as unparseable
    qs = [MCQuestion(f"rec{i}", f"Secret question {i}?", ("w", "x", "y", "z"), i % 4, "Physics", "Physics",
                     "gpqa", sensitive=True) for i in range(4)]

    def reply(prompt, params):
        q = next(q for q in qs if q.question in _user(prompt))
        return f"Restating {q.question} ... \\boxed{{{q.gold}}}" if q.id != "rec3" else "no idea"

    src = RunPassageSource({q.id: {"d": 1.0} for q in qs}, {"d": "doc"})
    first = evaluate_questions(qs, ScriptedLLM(reply), src, EvalSettings(), out_dir=tmp_path)
    assert [r["closed"]["pred"] for r in first.rows] == ["A", "B", "C", None]
    stored = (tmp_path / "generations.closed.jsonl").read_text(encoding="utf-8")
    assert "Secret question" not in stored and '"letter": "B"' in stored
    again = ScriptedLLM(reply)
    second = evaluate_questions(qs, again, src, EvalSettings(), out_dir=tmp_path)
    assert again.batches == [] and second.rows == first.rows
    # lines whose extraction version is not the current one are regenerated, not trusted
    path = tmp_path / "generations.rag.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace('"version": "extract-', '"version": "old-'),
                    encoding="utf-8")
    third = ScriptedLLM(reply)
    evaluate_questions(qs, third, src, EvalSettings(), out_dir=tmp_path)
    assert sum(len(p) for p, _ in third.batches) == 4
