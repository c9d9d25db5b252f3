"""BM25 and query-side BM25 against brute force, bm25s and gensim; persistence; batching invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonir.analysis import Analyzer
from reasonir.errors import ConfigError, DataFormatError
from reasonir.retrieve import bm25 as bm25_module
from reasonir.retrieve.bm25 import BM25Index, weight_matrix

PLAIN = Analyzer(stopwords=None, stemmer=None)   # identity analysis for tokens like "t3"
K1, B = 0.9, 0.4

words = st.integers(0, 7).map(lambda i: f"t{i}")
docs_st = st.lists(st.lists(words, min_size=0, max_size=12), min_size=1, max_size=25)


def brute_force(corpus: list[list[str]], query: list[str], mode: str, k1: float = K1, b: float = B) -> np.ndarray:
    """The formula of the module docstring, term by term in float64."""
    n = len(corpus)
    avgdl = sum(map(len, corpus)) / n
    df = {t: sum(t in d for d in corpus) for d in corpus for t in d}
    idf = {t: math.log(n + 1) - math.log(v + 0.5) for t, v in df.items()}

    def w(tf: int, length: int, t: str) -> float:
        return idf[t] * tf / (tf + k1 * (1 - b + b * length / avgdl))

    known = [t for t in query if t in df]
    scores = np.zeros(n)
    for i, d in enumerate(corpus):
        for t in set(known):
            if t in d:
                wq = known.count(t) if mode == "bm25" else w(known.count(t), len(known), t)
                scores[i] += wq * w(d.count(t), len(d), t)
    return scores


def build(corpus: list[list[str]], **kw) -> BM25Index:
    return BM25Index.build([" ".join(d) for d in corpus], [f"d{i}" for i in range(len(corpus))],
                           analyzer=PLAIN, show_progress=False, **kw)


def assert_ranking_consistent(idx: np.ndarray, vals: np.ndarray, exact: np.ndarray, k: int) -> None:
    """Best first by the exact scores (ties by index), only matching docs, the right count."""
    positive = np.flatnonzero(exact > 0)
    assert len(idx) == min(k, positive.size)
    assert set(idx.tolist()) <= set(positive.tolist())
    np.testing.assert_allclose(vals, exact[idx], rtol=1e-5)
    tol = 1e-6 * max(exact.max(), 1e-12)
    for a, c in zip(idx[:-1], idx[1:]):
        assert exact[a] > exact[c] - tol and (abs(exact[a] - exact[c]) > tol or a < c)
    if len(idx) and len(idx) < positive.size:   # nothing left out beats the last one returned
        rest = np.setdiff1d(positive, idx)
        assert exact[rest].max() <= exact[idx[-1]] + tol


@settings(max_examples=60, deadline=None)
@given(docs_st, st.lists(words, min_size=1, max_size=15), st.sampled_from(["bm25", "bm25q"]),
       st.integers(1, 30))
def test_scores_equal_brute_force(corpus, query, mode, k):
    if not any(corpus):
        return
    index = build(corpus)
    text = " ".join(query)
    exact = brute_force(corpus, query, mode)
    np.testing.assert_allclose(index.score(text, mode), exact, rtol=1e-5, atol=1e-9)
    (idx, vals), = index.search_arrays([text], k=k, mode=mode)
    assert_ranking_consistent(idx, vals, exact, k)


@settings(max_examples=40, deadline=None)
@given(docs_st, st.lists(st.lists(words, max_size=6), min_size=1, max_size=5))
def test_standard_bm25_equals_bm25s(corpus, queries):
    bm25s = pytest.importorskip("bm25s")
    if not any(corpus):
        return
    index = build(corpus)
    engine = bm25s.BM25(k1=K1, b=B, method="lucene")
    engine.index(corpus, show_progress=False)
    for q in queries:
        known = [t for t in q if t in engine.vocab_dict]
        want = engine.get_scores(known) if known else np.zeros(len(corpus))
        np.testing.assert_allclose(index.score(" ".join(q), "bm25"), want, rtol=1e-5, atol=1e-6)
    # retrieve(): the same scores in the same order (bm25s breaks ties its own way, so compare values)
    k = min(5, len(corpus))
    docs, scores = engine.retrieve([q for q in queries], k=k, show_progress=False)
    for q, got in zip(queries, index.search_arrays([" ".join(q) for q in queries], k=k, mode="bm25")):
        row = scores[queries.index(q)]
        positive = row[row > 0]
        np.testing.assert_allclose(got[1], positive, rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(docs_st, st.floats(0.0, 3.0), st.floats(0.0, 1.0))
def test_weight_matrix_equals_bm25s_build(corpus, k1, b):
    bm25s = pytest.importorskip("bm25s")
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in d] for d in corpus]
    if not vocab:
        return
    theirs = bm25s.BM25(k1=k1, b=b, method="lucene").build_index_from_ids(
        unique_token_ids=list(range(len(vocab))), corpus_token_ids=ids, show_progress=False)
    ours = weight_matrix(ids, len(vocab), k1=k1, b=b)
    for key in ("data", "indices", "indptr"):
        assert ours[key].dtype == np.asarray(theirs[key]).dtype
        np.testing.assert_array_equal(ours[key], theirs[key])


def test_chunked_build_and_blocked_search_are_invariant(monkeypatch):
    rng = np.random.default_rng(3)
    corpus = [[f"t{i}" for i in rng.integers(0, 40, rng.integers(0, 30))] for _ in range(300)]
    queries = [" ".join(f"t{i}" for i in rng.integers(0, 45, rng.integers(0, 12))) for _ in range(40)]
    ref = build(corpus)
    ref_res = ref.search_arrays(queries, k=25, mode="bm25q")
    monkeypatch.setattr(bm25_module, "_BUILD_CHUNK", 7)
    monkeypatch.setattr(bm25_module, "_BLOCK_CELLS", 600)      # 2 queries per block
    monkeypatch.setattr(bm25_module, "_BLOCK_POSTINGS", 50)    # several posting slices per block
    small = build(corpus)
    for key in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(small, key), getattr(ref, key))
    assert small._blocks(*small.query_terms(queries)[:2])[0] != (0, len(queries))
    for (i1, v1), (i2, v2) in zip(ref_res, small.search_arrays(queries, k=25, mode="bm25q")):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(v1, v2, rtol=1e-12)


def test_long_queries_repeated_terms_saturate_in_bm25q():
    # "x" is in 5 of 10 documents (idf 0.69), "y" in one (idf 1.99); doc 0 holds x, doc 1 holds y
    corpus = [["x", "a"], ["y", "a"]] + [["x", f"f{i}"] for i in range(3)] + [["g", f"h{i}"] for i in range(5)]
    index = build(corpus)
    s1 = {m: index.score("x y", m) for m in ("bm25", "bm25q")}
    s5 = {m: index.score("x x x x x y", m) for m in ("bm25", "bm25q")}
    s50 = {m: index.score(" ".join(["x"] * 50 + ["y"]), m) for m in ("bm25", "bm25q")}
    # bm25: every repetition adds the full document weight -> linear growth, x's doc overtakes y's
    assert s5["bm25"][0] == pytest.approx(5 * s1["bm25"][0]) and s50["bm25"][0] == pytest.approx(50 * s1["bm25"][0])
    assert s1["bm25"][1] > s1["bm25"][0] and s5["bm25"][0] > s5["bm25"][1]
    # bm25q: the query weight idf·tf/(tf + k1·(...)) saturates below idf; the rare term keeps winning
    assert s1["bm25q"][0] < s5["bm25q"][0] < s50["bm25q"][0] < index.idf[index.vocab["x"]] * s1["bm25"][0]
    assert s5["bm25q"][1] > s5["bm25q"][0]      # idf enters twice (query and document weight)
    ranks = {m: index.search_arrays([" ".join(["x"] * 5 + ["y"])], k=2, mode=m)[0][0].tolist() for m in ("bm25", "bm25q")}
    assert ranks["bm25"][0] != 1 and ranks["bm25q"][0] == 1
    # |q| counts in-vocabulary tokens only (gensim's doc2bow drops unknown ones)
    np.testing.assert_allclose(index.score("x y zzz qqq", "bm25q"), s1["bm25q"])


def test_identical_rankings_to_gensim_lucene_bm25():
    pytest.importorskip("gensim")
    from gensim.corpora import Dictionary
    from gensim.models import LuceneBM25Model
    from gensim.similarities import SparseMatrixSimilarity

    rng = np.random.default_rng(7)
    vocab = [f"w{i}" for i in range(120)]
    p = 1 / np.arange(1, 121) ** 1.1
    corpus = [list(rng.choice(vocab, size=rng.integers(5, 60), p=p / p.sum())) for _ in range(250)]
    queries = [list(rng.choice(vocab, size=rng.integers(3, 40), p=p / p.sum())) for _ in range(40)]
    index = build(corpus)
    dictionary = Dictionary(corpus)
    model = LuceneBM25Model(dictionary=dictionary, k1=K1, b=B)
    sim = SparseMatrixSimilarity(model[list(map(dictionary.doc2bow, corpus))], num_docs=len(corpus),
                                 num_terms=len(dictionary), normalize_queries=False, normalize_documents=False)
    identical = 0
    for q, (idx, vals) in zip(queries, index.search_arrays([" ".join(q) for q in queries], k=100, mode="bm25q")):
        theirs = np.asarray(sim[model[dictionary.doc2bow(q)]], dtype=np.float64)
        np.testing.assert_allclose(index.score(" ".join(q), "bm25q"), theirs, rtol=2e-6, atol=1e-6)
        order = [i for i in sorted(range(len(corpus)), key=lambda i: -theirs[i]) if theirs[i] > 0][:100]
        if idx.tolist() == order:
            identical += 1
        else:   # only float32 near-ties may swap (gensim sums in float32)
            first = next(j for j, (a, c) in enumerate(zip(idx.tolist(), order)) if a != c)
            assert abs(vals[first] - theirs[order[first]]) <= 1e-6 * vals[0]
    assert identical >= 35


def test_exclusions_k_and_degenerate_queries():
    index = build([["a", "b"], ["a"], ["b", "c"], ["c"]])
    run = index.search({"q1": "a b", "q2": "zzz", "q3": "c"}, k=10, excluded_ids={"q1": {"d0"}, "q3": {"nope"}})
    assert list(run["q1"]) == ["d1", "d2"] and run["q2"] == {} and list(run["q3"]) == ["d3", "d2"]
    (idx, vals), = index.search_arrays(["a b c"], k=2)
    assert idx.tolist() == [0, 2] and vals[0] == vals[1]           # a tie: lower index first
    (idx, _), = index.search_arrays(["a"], k=1, excluded=[[1]])
    assert idx.tolist() == [0]
    with pytest.raises(ConfigError, match="unknown BM25 mode"):
        index.search_arrays(["a"], mode="okapi")
    with pytest.raises(ConfigError, match="k must be positive"):
        index.search_arrays(["a"], k=0)
    assert index.search_arrays([], k=3) == []


def test_build_errors():
    with pytest.raises(DataFormatError, match="duplicate document id 'x'"):
        BM25Index.build(["a", "b"], ["x", "x"])
    with pytest.raises(DataFormatError, match="empty corpus"):
        BM25Index.build([], [])
    with pytest.raises(DataFormatError, match="no indexable terms"):
        BM25Index.build(["the of", ""], ["1", "2"])
    with pytest.raises(DataFormatError, match="2 texts but 1 doc ids"):
        BM25Index.build(["a", "b"], ["1"])
    with pytest.raises(ConfigError, match="out of range"):
        BM25Index.build(["a"], ["1"], b=2.0)


def test_save_load_and_bm25s_opens_our_index(tmp_path):
    bm25s = pytest.importorskip("bm25s")
    texts = ["Cats chase the mice.", "Dogs chase cats!", "A mouse's house", "Birds sing; cats listen"]
    index = BM25Index.build(texts, ["c1", "c2", "c3", "c4"], show_progress=False)
    index.save(tmp_path / "idx")
    queries = {"q": "cats chasing mice", "r": "houses of birds"}
    for mmap in (False, True):
        loaded = BM25Index.load(tmp_path / "idx", mmap=mmap)
        assert loaded.analyzer.config() == index.analyzer.config() and loaded.avgdl == index.avgdl
        for mode in ("bm25", "bm25q"):
            assert loaded.search(queries, mode=mode) == index.search(queries, mode=mode)
    theirs = bm25s.BM25.load(tmp_path / "idx")
    for text in queries.values():
        tokens = index.analyzer(text)
        np.testing.assert_allclose(theirs.get_scores(tokens), index.score(text, "bm25"), rtol=1e-6)
        docs, scores = theirs.retrieve([tokens], k=2, show_progress=False)
        got = index.search_arrays([text], k=2)[0]
        np.testing.assert_allclose(scores[0][: len(got[1])], got[1], rtol=1e-6)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a complete reasonir BM25 index"):
        BM25Index.load(tmp_path)
    index = BM25Index.build(["a b", "c"], ["1", "2"], show_progress=False)
    index.save(tmp_path / "i")
    (tmp_path / "i" / "doc_ids.json").write_text('["1"]', encoding="utf-8")
    with pytest.raises(DataFormatError, match="corrupt"):
        BM25Index.load(tmp_path / "i")


def test_to_bm25s_shares_the_index_and_scores_identically():
    import numpy as np
    pytest.importorskip("bm25s")
    from reasonir.retrieve.bm25 import BM25Index
    texts = ["the cat sat on the mat", "dogs chase cats in the park", "a mat for a cat", "parks and dogs"]
    index = BM25Index.build(texts, ["a", "b", "c", "d"])
    engine = index.to_bm25s()
    query = "cat on a mat"
    tokens = index.analyzer(query)
    ours = index.score(query, "bm25")
    theirs = engine.get_scores(tokens)
    assert np.allclose(ours, theirs, rtol=1e-6)
    docs, scores = engine.retrieve([tokens], k=2)
    assert [index.doc_ids[i] for i in docs[0]] == [index.doc_ids[i] for i in np.argsort(-ours, kind="stable")[:2]]
