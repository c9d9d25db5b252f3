"""FAISS ANN inside the index: HNSW and IVF-PQ recall against exact search, add/delete, persistence."""

import numpy as np
import pytest

from reasonir.index import AnnParams, Index, IndexOptions, add_documents, build_index, delete_documents
from reasonir.index.ann import ann_search, build_ann, recall_at_k, rescore
from reasonir.index.exact import exact_search
from reasonir.io import write_corpus
from reasonir.types import Document

faiss = pytest.importorskip("faiss")


def _clustered(n, d=64, seed=0):
    """Unit vectors around 40 centres: a stand-in for real embeddings' structure."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, d))
    x = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


@pytest.mark.parametrize("kind,floor", [("hnsw", 0.95), ("ivfpq", 0.85)])
def test_ann_recall_against_exact(kind, floor):
    x = _clustered(6000)
    shards = [x[:2500], x[2500:]]
    params = AnnParams(kind=kind, nprobe=16)           # defaults: HNSW M=32, efC=200, efSearch=128; refine 10
    index = build_ann(params, shards, 6000)
    q = _clustered(100, seed=1).astype(np.float32)
    exact, exact_scores = exact_search(q, shards, k=10)
    approx, approx_scores = rescore(shards, q, ann_search(index, params, q, 10), 10)
    assert recall_at_k(approx, exact, 10) >= floor
    found = approx == exact                                   # where the rows agree, the scores agree
    np.testing.assert_allclose(approx_scores[found], exact_scores[found], rtol=1e-5)


def test_ann_filters_tombstones():
    x = _clustered(3000)
    params = AnnParams(kind="hnsw")
    index = build_ann(params, [x], 3000)
    q = x[:5].astype(np.float32)
    first = ann_search(index, params, q, 10)
    dead = np.unique(first[:, :3])
    again = ann_search(index, params, q, 10, tombstones=dead)
    assert not set(again[again >= 0].tolist()) & set(dead.tolist())


def test_index_with_hnsw_add_and_delete(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    docs = [Document(f"d{i}", " ".join(rng.choice(words, 25))) for i in range(1500)]
    write_corpus(tmp_path / "c.jsonl", docs[:1200])
    write_corpus(tmp_path / "more.jsonl", docs[1200:])
    opts = IndexOptions(model="hash", bm25=True, ann="hnsw", shard_size=400,
                        ann_params=AnnParams(hnsw_m=16, ef_construction=100, ef_search=200))
    report = build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "idx"), opts)
    assert report.ann_recall_at_10 is not None and report.ann_recall_at_10 >= 0.9
    add_documents(str(tmp_path / "idx"), str(tmp_path / "more.jsonl"))
    index = Index.open(tmp_path / "idx", verify=True)
    assert index.info()["ann"] == "hnsw" and index._ann_index().ntotal == 1500
    probe = docs[1300].text
    assert index.search([probe], k=1, mode="dense")[0][0].id == "d1300"       # added docs are reachable
    exact = index.search([probe], k=10, mode="dense", exact=True)[0]
    approx = index.search([probe], k=10, mode="dense")[0]
    assert len({h.id for h in exact} & {h.id for h in approx}) >= 8
    delete_documents(str(tmp_path / "idx"), ["d1300"])
    index = Index.open(tmp_path / "idx")
    for mode in ("dense", "hybrid"):
        assert "d1300" not in {h.id for h in index.search([probe], k=20, mode=mode)[0]}
