"""The demo: the Python reference shipped with the interpreter as a corpus, indexed and searched."""

from reasonir.index import make_snippet
from reasonir.workflows.demo import DEMO_QUESTIONS, DemoConfig, python_docs_corpus, run_demo


def test_python_docs_corpus_is_passages_with_unique_ids_and_text():
    docs = python_docs_corpus(160)
    assert len(docs) > 300
    assert len({d.id for d in docs}) == len(docs) and len({d.text for d in docs}) == len(docs)
    assert max(len(d.text.split()) for d in docs) < 1500
    by_id = {d.id: d for d in docs}
    assert by_id["assignment#0"].metadata["topic"] == "assignment" and "PSF" in by_id["assignment#0"].metadata["source"]


def test_demo_builds_once_and_answers(tmp_path):
    cfg = DemoConfig(index=str(tmp_path / "demo"), model="hash", top_k=3)
    first = run_demo(cfg)
    assert first.report.operation == "build" and first.report.documents > 300
    assert [a["question"] for a in first.answers] == list(DEMO_QUESTIONS)
    assert all(len(a["results"]) == 3 for a in first.answers)
    # the mutable-default-argument question finds the function-definition passage
    assert any("default" in r["snippet"] for r in first.answers[0]["results"])
    again = run_demo(DemoConfig(index=str(tmp_path / "demo"), model="hash", questions=["what does yield do"]))
    assert again.report.operation == "noop" and len(again.answers) == 1


def test_snippet_picks_the_window_with_the_query_terms():
    text = "Filler words here. " * 40 + "The kinase mutation drives tumor growth in cells. " + "More filler. " * 40
    snip = make_snippet(text, "kinase mutation tumor", width=120)
    assert "kinase mutation drives tumor" in snip and snip.startswith("…") and snip.endswith("…")
    assert len(snip) <= 122
    assert make_snippet("short text", "anything") == "short text"
    assert make_snippet("word " * 100, "absent", width=50).startswith("word")
