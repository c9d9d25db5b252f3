"""``reasonir rag`` end to end with a scripted LLM, report recomputation, and the CLI."""

import json

import pytest
from fakes import ScriptedLLM, gpqa_csv

from reasonir.cli import main
from reasonir.io import iter_jsonl, write_corpus, write_run
from reasonir.rag.stats import summarize
from reasonir.types import Document
from reasonir.workflows.rag import RagConfig, run_rag


def echo_gold(prompt, params):
    """The right answer whenever the prompt holds a passage naming the gold letter, else B."""
    text = prompt[-1]["content"]
    letter = text.split("GOLD=")[1][0] if "GOLD=" in text else "B"
    return f"Thinking. The answer is ({letter})."


def echo_gold_llm() -> ScriptedLLM:
    return ScriptedLLM(echo_gold, name="echo-gold", tokens=(0, 5))


@pytest.fixture()
def mmlu_zip(data_dir):
    return str(data_dir / "mmlu" / "mmlu.zip")


def _gold_corpus_and_run(tmp_path, mmlu_zip):
    from reasonir.rag.benchmarks import load_mmlu

    qs = load_mmlu(mmlu_zip, "test", subjects=["anatomy", "virology"])
    docs = [Document(f"doc-{q.id}", f"GOLD={q.gold} background: {q.question}") for q in qs]
    docs.append(Document("noise", "unrelated text"))
    write_corpus(tmp_path / "corpus.jsonl", docs)
    write_run(tmp_path / "run.trec", {q.id: {f"doc-{q.id}": 2.0, "noise": 1.0} for q in qs})
    return qs


def test_run_rag_end_to_end_and_recompute(tmp_path, mmlu_zip):
    _gold_corpus_and_run(tmp_path, mmlu_zip)
    out = tmp_path / "out"
    cfg = RagConfig(benchmark="mmlu", data=mmlu_zip, run=str(tmp_path / "run.trec"),
                    corpus=str(tmp_path / "corpus.jsonl"), subjects=["anatomy", "virology"],
                    limit_per_subject=4, top_k=2, out=str(out), bootstrap=200)
    llm = echo_gold_llm()
    outcome = run_rag(cfg, llm=llm)
    assert llm.calls == 16
    rep = outcome.report
    assert rep["n"] == 8 and rep["conditions"]["rag"]["accuracy"] == 1.0
    assert rep["groups"].keys() == {"stem", "other"} and rep["meta"]["k"] == 2
    assert rep["meta"]["prompt_version"] and rep["meta"]["wall_seconds"] > 0
    rows = [r for _, r in iter_jsonl(out / "results.jsonl")]
    again = summarize(rows, ("closed", "rag"), 200, cfg.seed)
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {k: saved[k] for k in again} == json.loads(json.dumps(again))
    assert (out / "accuracy.png").exists() and (out / "config.json").exists()
    # the report is rebuilt from results.jsonl alone, with the same numbers
    (out / "report.md").unlink()
    code = main(["rag", "--benchmark", "mmlu", "--report-only", "--out", str(out), "--bootstrap", "200",
                 "--no-chart"])
    assert code == 0 and (out / "report.md").exists()
    rebuilt = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert rebuilt["difference"] == saved["difference"] and rebuilt["meta"]["llm"] == "echo-gold"


def test_run_rag_with_bm25_over_a_corpus(tmp_path, mmlu_zip):
    qs = _gold_corpus_and_run(tmp_path, mmlu_zip)
    cfg = RagConfig(benchmark="mmlu", data=mmlu_zip, corpus=str(tmp_path / "corpus.jsonl"),
                    subjects=["virology"], limit=3, out=str(tmp_path / "o"), chart=False)
    outcome = run_rag(cfg, llm=echo_gold_llm())
    # BM25 over the corpus finds the passage that repeats each question first
    assert [r["rag"]["passages"][0]["doc_id"] for r in outcome.rows] == [f"doc-{r['id']}" for r in outcome.rows]
    assert all(len(r["rag"]["passages"]) == 3 for r in outcome.rows)
    assert outcome.report["conditions"]["rag"]["accuracy"] == 1.0
    assert outcome.report["meta"]["source"].startswith("bm25:")
    assert [r["id"] for r in outcome.rows] == [q.id for q in qs if q.subject == "virology"][:3]


def test_cli_errors_and_closed_only(tmp_path, mmlu_zip, capsys):
    assert main(["rag", "--benchmark", "mmlu", "--data", mmlu_zip, "--run", "x.trec", "--llm", "smollm2",
                 "--out", str(tmp_path)]) == 2
    assert "--corpus" in capsys.readouterr().err
    assert main(["rag", "--benchmark", "mmlu", "--data", mmlu_zip, "--llm", "smollm2",
                 "--out", str(tmp_path)]) == 2
    assert "needs passages" in capsys.readouterr().err
    assert main(["rag", "--benchmark", "mmlu", "--data", mmlu_zip, "--subjects", "astrology",
                 "--conditions", "closed", "--llm", "smollm2", "--out", str(tmp_path)]) == 2
    assert "astrology" in capsys.readouterr().err
    outcome = run_rag(RagConfig(benchmark="mmlu", data=mmlu_zip, subjects=["stem"], limit=2,
                                conditions="closed", out=str(tmp_path / "c"), chart=False), llm=echo_gold_llm())
    assert set(outcome.report["conditions"]) == {"closed"} and "difference" not in outcome.report


def test_cli_rag_datastore(tmp_path, capsys):
    write_corpus(tmp_path / "c.jsonl", [Document("a", "same"), Document("b", "same"), Document("c", "other")])
    write_run(tmp_path / "r1", {"q1": {"a": 2.0, "c": 1.0}})
    write_run(tmp_path / "r2", {"q9": {"b": 3.0}})
    out = tmp_path / "pool.jsonl"
    assert main(["rag-datastore", "--run", str(tmp_path / "r1"), str(tmp_path / "r2"), "--corpus",
                 str(tmp_path / "c.jsonl"), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["seen"], summary["kept"], summary["duplicates"]) == (3, 2, 1)
    rows = [r for _, r in iter_jsonl(out)]
    assert [(r["_id"], r["text"], r["orig_id"]) for r in rows] == [("0", "same", "a"), ("1", "other", "c")]


@pytest.mark.slow
def test_cli_with_the_embedded_smollm2(tmp_path, mmlu_zip, capsys):
    pytest.importorskip("transformers")
    _gold_corpus_and_run(tmp_path, mmlu_zip)
    code = main(["rag", "--benchmark", "mmlu", "--data", mmlu_zip, "--corpus", str(tmp_path / "corpus.jsonl"),
                 "--llm", "smollm2", "--subjects", "virology", "--limit", "2", "--max-tokens", "24",
                 "--llm-cache", "off", "--out", str(tmp_path / "o"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 2 and 0.0 <= summary["rag_parse_failure_rate"] <= 1.0
    rows = [r for _, r in iter_jsonl(tmp_path / "o" / "results.jsonl")]
    assert all(r["closed"]["completion_tokens"] > 0 and r["closed"]["output"] for r in rows)


def test_llm_is_loaded_from_the_spec_and_gpqa_skips_the_response_cache(tmp_path, mmlu_zip, monkeypatch):
    import reasonir.llm as llm_pkg

    calls = []

    def fake_load_llm(spec, **kw):
        calls.append((spec, kw))
        return echo_gold_llm()

    monkeypatch.setattr(llm_pkg, "load_llm", fake_load_llm)
    (tmp_path / "gpqa_diamond.csv").write_text(gpqa_csv(3), encoding="utf-8")
    run_rag(RagConfig(benchmark="gpqa", data=str(tmp_path / "gpqa_diamond.csv"), llm="smollm2",
                      conditions="closed", out=str(tmp_path / "g"), chart=False))
    run_rag(RagConfig(benchmark="mmlu", data=mmlu_zip, subjects=["virology"], limit=1, llm="smollm2",
                      conditions="closed", out=str(tmp_path / "m"), chart=False))
    run_rag(RagConfig(benchmark="gpqa", data=str(tmp_path / "gpqa_diamond.csv"), llm="smollm2",
                      llm_cache="x.sqlite", conditions="closed", out=str(tmp_path / "g2"), chart=False))
    run_rag(RagConfig(benchmark="mmlu", data=mmlu_zip, subjects=["virology"], limit=1, llm="smollm2",
                      llm_dtype="bf16", llm_device="cpu", batch_size=3, conditions="closed",
                      out=str(tmp_path / "m2"), chart=False))
    run_rag(RagConfig(benchmark="mmlu", data=mmlu_zip, subjects=["virology"], limit=1, llm="vllm:some/model",
                      llm_dtype="bf16", conditions="closed", out=str(tmp_path / "m3"), chart=False))
    opts = {"dtype": None, "device": None, "batch_size": 8}
    assert calls == [("smollm2", {"cache": "off", **opts}), ("smollm2", opts),
                     ("smollm2", {"cache": "x.sqlite", **opts}),
                     ("smollm2", {"dtype": "bf16", "device": "cpu", "batch_size": 3}),
                     ("vllm:some/model", {"dtype": "bfloat16", "device": None, "batch_size": 8})]
