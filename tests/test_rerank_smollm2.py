"""End to end with the real embedded SmolLM2 (slow): rewrite -> retrieve -> rerank on BRIGHT-format data,
and LLM reranking of a SciFact BM25 run with both grade modes."""

from __future__ import annotations

import json

import pytest
from llm_fakes import make_bright_dir

pytest.importorskip("transformers")

from reasonir.io import write_run  # noqa: E402
from reasonir.llm import load_llm  # noqa: E402
from reasonir.rerank import LLMReranker  # noqa: E402
from reasonir.workflows.rerank import RerankConfig, run_rerank  # noqa: E402
from reasonir.workflows.retrieve import RetrieveConfig, run_retrieve  # noqa: E402
from reasonir.workflows.rewrite import RewriteConfig, run_rewrite  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    from reasonir.errors import DependencyError

    try:
        return load_llm("smollm2", cache=tmp_path_factory.mktemp("cache") / "c.sqlite", batch_size=4)
    except DependencyError as exc:
        pytest.skip(str(exc))


def test_rewrite_retrieve_rerank_on_bright_format_data(tmp_path, bright_dir, smollm2):
    root, examples, _ = make_bright_dir(tmp_path / "bright", bright_dir, n=2)
    spec = f"bright:biology@{root}"
    rw = run_rewrite(RewriteConfig(dataset=spec, out=str(tmp_path / "rw.jsonl"), max_tokens=24), llm=smollm2)
    assert set(rw.rewrites) == {ex["id"] for ex in examples}
    for r in rw.rewrites.values():
        assert r.reasoning and r.query == r.reasoning and 0 < r.completion_tokens <= 24
    base = run_retrieve(RetrieveConfig(dataset=spec, retriever="bm25", top_k=10, out=str(tmp_path / "bm25.trec")))
    swapped = run_retrieve(RetrieveConfig(dataset=spec, retriever="bm25", top_k=10, query_variant=str(tmp_path / "rw.jsonl")))
    assert swapped.dataset.metadata["query_variant"]["matched"] == 2 and len(swapped.run) == len(base.run) == 2

    reranker = LLMReranker(smollm2, family="stackexchange", max_tokens=8)
    out = run_rerank(RerankConfig(run=str(tmp_path / "bm25.trec"), dataset=spec, top_k=3,
                                  query_variant=str(tmp_path / "rw.jsonl"), out=str(tmp_path / "rr.trec")),
                     reranker=reranker)
    assert out.pairs == 6 and out.grades["pairs"] == 6
    assert 0 <= out.grades["parse_failures"] <= 6 and set(out.metrics) == {"retriever", "reranker", "interpolate"}
    rows = [json.loads(x) for x in (tmp_path / "rr.trec.judgements.jsonl").read_text().splitlines()]
    assert all(r["text"] for r in rows)
    calls = smollm2.stats.calls
    run_rewrite(RewriteConfig(dataset=spec, out=str(tmp_path / "rw2.jsonl"), max_tokens=24), llm=smollm2)
    assert smollm2.stats.calls == calls                       # a re-run is answered by the cache


def test_llm_rerank_scifact_both_grade_modes(tmp_path, scifact_dir, smollm2):
    from reasonir.data import load_beir
    from reasonir.retrieve import BM25Retriever

    ds = load_beir(scifact_dir)
    qids = sorted(ds.queries)[:2]
    run = BM25Retriever.from_corpus(ds.require_corpus()).search({q: ds.queries[q] for q in qids}, k=3)
    write_run(tmp_path / "bm25.trec", run)
    for mode in ("parse", "expected"):
        reranker = LLMReranker(smollm2, family="evidence", grade_mode=mode, max_tokens=8)
        out = run_rerank(RerankConfig(run=str(tmp_path / "bm25.trec"), dataset=f"beir:{scifact_dir}", top_k=3,
                                      grade_mode=mode), reranker=reranker)
        assert out.pairs == 6
        if mode == "expected":
            assert out.grades["expected_used"] + out.grades["expected_fallback"] == 6
            assert out.grades["expected_used"] >= 1          # the local backend returns logprobs
