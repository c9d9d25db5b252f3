"""Query rewriting, query-variant files, and retrieval with rewritten queries."""

from __future__ import annotations

import json

import pytest
from llm_fakes import make_bright_dir

from reasonir.data import load_bright_local
from reasonir.errors import ConfigError, DataFormatError
from reasonir.llm import FunctionLLM, load_llm
from reasonir.prompts import rewrite as rewrite_prompts
from reasonir.query_variants import apply_query_variant
from reasonir.rewrite import QueryRewriter, combine_query
from reasonir.workflows.retrieve import RetrieveConfig, run_retrieve
from reasonir.workflows.rewrite import RewriteConfig, run_rewrite

TONGSEARCH = "reasoned_queries/tongsearch-qr-7b.json"


def test_prompt_has_the_three_steps_the_query_and_the_budget():
    system, user = rewrite_prompts.rewrite_messages("Why is the sky\nblue?", max_tokens=128)
    assert system["role"] == "system" and user["role"] == "user"
    body = user["content"]
    assert body.startswith("Why is the sky blue?\n")                   # newlines flattened
    assert "essential problem" in body and "step by step" in body and "draft answer" in body
    assert body.endswith("within 128 tokens.")
    no_clause = rewrite_prompts.rewrite_messages("q", max_tokens=None)[1]["content"]
    assert "tokens" not in no_clause


def _reasoner(prompt, params):
    query = prompt[-1]["content"].split("\n")[0]
    return "" if "silent" in query else f"reasoning about {query} in {params.max_tokens} tokens"


def test_rewriter_modes_dedupe_and_fallback():
    llm = load_llm(FunctionLLM(_reasoner, "r"), cache=None)
    queries = {"a": "first query", "b": "first query", "c": "a silent one"}
    out = QueryRewriter(llm, max_tokens=64).rewrite(queries)
    assert out["a"].query == "reasoning about first query in 64 tokens" and out["a"].mode == "replace"
    assert out["b"].query == out["a"].query and llm.stats.calls == 2       # the duplicate text is asked once
    assert out["c"].fallback and out["c"].query == "a silent one"
    appended = QueryRewriter(llm, max_tokens=64, mode="append", separator=" || ").rewrite({"a": "first query"})
    assert appended["a"].query == "first query || reasoning about first query in 64 tokens"
    with pytest.raises(ConfigError, match="replace, append"):
        QueryRewriter(llm, mode="prepend")
    with pytest.raises(ConfigError):
        combine_query("a", "b", "both")


def test_rewrite_workflow_writes_rows_and_a_rerun_costs_nothing(tmp_path, scifact_dir):
    cache = tmp_path / "c.sqlite"
    cfg = RewriteConfig(dataset=f"beir:{scifact_dir}", out=str(tmp_path / "rw.jsonl"), max_tokens=32,
                        sample_queries=5, sample_seed=3, llm_cache=str(cache))
    first = run_rewrite(cfg, llm=load_llm(FunctionLLM(_reasoner, "r"), cache=cache))
    rows = [json.loads(line) for line in (tmp_path / "rw.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and {"id", "query", "original", "reasoning", "llm", "prompt_version"} <= set(rows[0])
    assert rows[0]["prompt_version"] == "rewrite-1" and rows[0]["max_tokens"] == 32
    assert first.llm["calls"] == 5 and first.llm["cache_hits"] == 0
    second = run_rewrite(cfg, llm=load_llm(FunctionLLM(_reasoner, "r"), cache=cache))
    assert second.llm["calls"] == 0 and second.llm["cache_hits"] == 5
    saved = json.loads((tmp_path / "rw.jsonl.config.json").read_text())
    assert saved["llm_stats"]["calls"] == 0 and saved["lengths"]["queries"] == 5
    # the same 5 queries whatever the run: the sample depends on ids, size and seed only
    assert [r["id"] for r in rows] == [r.id for r in second.rewrites.values()]


def test_rewrite_cli_then_retrieve_with_the_variant(tmp_path, bright_dir, capsys):
    """`reasonir rewrite` through a real HTTP server, then `reasonir retrieve --query-variant`."""
    from reasonir.cli import main
    from reasonir.llm.server import LLMServer

    root, examples, keywords = make_bright_dir(tmp_path / "bright", bright_dir)

    def knows_keyword(prompt, params):           # a "reasoner" that names the concept the gold docs discuss
        first_line = prompt[-1]["content"].split("\n")[0]
        ex = next(e for e in examples if " ".join(e["query"].split("\n")).strip().startswith(first_line[:60]))
        return f"The essential problem concerns {keywords[ex['id']]}."

    out = tmp_path / "rw.jsonl"
    with LLMServer(FunctionLLM(knows_keyword, "kw", concurrency=2), model_name="kw") as srv:
        args = ["rewrite", "--dataset", f"bright:biology@{root}", "--llm", srv.spec, "--max-tokens", "64",
                "--out", str(out), "--llm-cache", str(tmp_path / "c.sqlite"), "--json"]
        assert main(args) == 0
        first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert main(args) == 0
        second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["calls"] == 3 and second["calls"] == 0 and second["cache_hits"] == 3

    base = run_retrieve(RetrieveConfig(dataset=f"bright:biology@{root}", retriever="bm25", top_k=10))
    rewritten = run_retrieve(RetrieveConfig(dataset=f"bright:biology@{root}", retriever="bm25", top_k=10,
                                            query_variant=str(out)))
    assert base.result.mean["ndcg@10"] < 0.2 and rewritten.result.mean["ndcg@10"] == pytest.approx(1.0)
    assert rewritten.dataset.metadata["query_variant"]["matched"] == 3
    assert main(["retrieve", "--dataset", f"bright:biology@{root}", "--queries", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ndcg@10"] == pytest.approx(1.0)


def test_tongsearch_map_covers_the_real_bright_queries(bright_dir):
    for task in ("biology", "leetcode", "theoremqa_theorems"):
        ds = load_bright_local(task, bright_dir)
        swapped = apply_query_variant(ds, bright_dir / TONGSEARCH)
        report = swapped.metadata["query_variant"]
        assert report["kind"] == "by_text" and report["matched"] == len(ds.queries) and report["unmatched"] == 0
        changed = sum(swapped.queries[q] != ds.queries[q] for q in ds.queries)
        assert changed == len(ds.queries)
        assert ds.queries is not swapped.queries and ds.metadata.get("query_variant") is None


def test_variant_formats_and_unmatched_reporting(tmp_path, bright_dir, caplog):
    ds = load_bright_local("pony", bright_dir)
    ids = list(ds.queries)
    by_text = {ds.queries[q].replace("\n", "  \n ") + " ": f"V{q}" for q in ids[:-2]}     # whitespace drift
    (tmp_path / "text.json").write_text(json.dumps(by_text))
    with caplog.at_level("WARNING"):
        swapped = apply_query_variant(ds, tmp_path / "text.json")
    assert swapped.queries[ids[0]] == f"V{ids[0]}" and swapped.queries[ids[-1]] == ds.queries[ids[-1]]
    rep = swapped.metadata["query_variant"]
    assert rep["matched"] == len(ids) - 2 and rep["unmatched_ids"] == ids[-2:]
    assert "2 of 112 queries of bright/pony have no variant" in caplog.text
    with pytest.raises(DataFormatError, match="have no variant"):
        apply_query_variant(ds, tmp_path / "text.json", strict=True)

    (tmp_path / "ids.json").write_text(json.dumps({q: f"I{q}" for q in ids}))
    assert apply_query_variant(ds, tmp_path / "ids.json").queries[ids[5]] == f"I{ids[5]}"
    (tmp_path / "list.json").write_text(json.dumps([{"id": q, "query": f"L{q}"} for q in ids]))
    appended = apply_query_variant(ds, tmp_path / "list.json", mode="append", separator="|")
    assert appended.queries[ids[1]] == f"{ds.queries[ids[1]]}|L{ids[1]}"
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"id": q, "query": f"J{q}"}) + "\n" for q in ids[:3]))
    assert apply_query_variant(ds, tmp_path / "rows.jsonl").metadata["query_variant"]["matched"] == 3

    (tmp_path / "other.json").write_text(json.dumps({"some other text": "x"}))
    with pytest.raises(ConfigError, match="none of the 112 queries"):
        apply_query_variant(ds, tmp_path / "other.json")
    (tmp_path / "bad.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(DataFormatError, match="JSON object of strings"):
        apply_query_variant(ds, tmp_path / "bad.json")
    (tmp_path / "bad.jsonl").write_text('{"id": "1"}\n')
    with pytest.raises(DataFormatError, match="bad.jsonl:1"):
        apply_query_variant(ds, tmp_path / "bad.jsonl")
    with pytest.raises(FileNotFoundError):
        apply_query_variant(ds, tmp_path / "missing.json")


def test_retrieve_with_the_tongsearch_map_on_bright_format_data(tmp_path, bright_dir):
    root, examples, _ = make_bright_dir(tmp_path / "bright", bright_dir, n=3)
    out = run_retrieve(RetrieveConfig(dataset=f"bright:biology@{root}", retriever="bm25q", top_k=5,
                                      metrics="ndcg@5,recall@5", query_variant=str(bright_dir / TONGSEARCH)))
    rep = out.dataset.metadata["query_variant"]
    assert rep["matched"] == 3 and rep["unmatched"] == 0
    reasoned = json.loads((bright_dir / TONGSEARCH).read_text())
    assert out.dataset.queries[examples[0]["id"]] == reasoned[examples[0]["query"]]
    assert set(out.run) == {ex["id"] for ex in examples}
