"""Compressed codes (sq8, sq4, IVF-PQ) with exact re-scoring from the stored vectors."""

import json
from pathlib import Path

import numpy as np
import pytest

from reasonir.errors import ConfigError
from reasonir.index import AnnParams, Index, IndexOptions, add_documents, build_index, delete_documents, derive_index
from reasonir.index.ann import ann_search, build_ann, recall_at_k, rescore
from reasonir.index.codecs import code_bytes_per_vector, codes_info
from reasonir.index.exact import exact_search
from reasonir.io import write_corpus
from reasonir.types import Document

pytest.importorskip("faiss")


def _clustered(n, d=96, centres=200, seed=0, centre_seed=7):
    """Unit vectors around shared centres plus noise: queries come from the same mixture."""
    c = np.random.default_rng(centre_seed).standard_normal((centres, d))
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centres, n)] + 0.8 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


@pytest.mark.parametrize("kind", ["sq8", "sq4", "ivfpq"])
def test_codes_recall_and_exact_scores(kind):
    x = _clustered(8000)
    shards = [x[:3000], x[3000:]]
    params = AnnParams(kind=kind, nprobe=32)
    index = build_ann(params, shards, 8000)
    q = _clustered(100, seed=1).astype(np.float32)
    exact, exact_scores = exact_search(q, shards, k=10)
    cand = ann_search(index, params, q, 10)
    assert cand.shape == (100, 10 * params.effective_refine)     # the candidate pool is refine·k
    approx, approx_scores = rescore(shards, q, cand, 10)
    assert recall_at_k(approx, exact, 10) >= 0.95
    # every returned row carries its exact score from the stored fp16 vector
    stored = np.concatenate(shards).astype(np.float32)
    for r in range(len(q)):
        np.testing.assert_allclose(approx_scores[r], stored[approx[r]] @ q[r], rtol=1e-5, atol=1e-6)


def test_sq4_codes_are_a_quarter_of_fp16():
    x = _clustered(4000, d=64)
    index = build_ann(AnnParams(kind="sq4"), [x], 4000)
    assert index.sa_code_size() == 32 == code_bytes_per_vector("sq4", 64)   # 64 dims: 128 fp16 bytes
    assert code_bytes_per_vector("sq8", 64) == 64


def test_larger_pool_recovers_more():
    x = _clustered(6000)
    q = _clustered(80, seed=2).astype(np.float32)
    exact, _ = exact_search(q, [x], k=10)
    recalls = []
    for refine in (1, 20):
        params = AnnParams(kind="sq4", refine=refine)
        index = build_ann(params, [x], 6000)
        recalls.append(recall_at_k(rescore([x], q, ann_search(index, params, q, 10), 10)[0], exact, 10))
    assert recalls[1] > recalls[0] and recalls[1] >= 0.97


def test_refine_below_one_is_refused():
    with pytest.raises(ConfigError, match="refine"):
        build_ann(AnnParams(kind="sq8", refine=0), [_clustered(500)], 500)


def _docs(n, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(300)]
    return [Document(f"d{i}", " ".join(rng.choice(words, 25))) for i in range(n)]


def test_index_with_codes_add_delete_derive_and_info(tmp_path):
    docs = _docs(1500)
    write_corpus(tmp_path / "c.jsonl", docs[:1200])
    write_corpus(tmp_path / "more.jsonl", docs[1200:])
    root = tmp_path / "idx"
    opts = IndexOptions(model="hash", bm25=True, ann="sq8", shard_size=400, ann_params=AnnParams(refine=20))
    report = build_index(str(tmp_path / "c.jsonl"), str(root), opts)
    assert report.ann_recall_at_10 is not None and report.ann_recall_at_10 >= 0.95
    add_documents(str(root), str(tmp_path / "more.jsonl"))
    index = Index.open(root, verify=True)
    info = index.info()
    dim = index.dim
    assert info["ann"] == "sq8" and info["codes_bytes_per_vector"] == dim and info["ann_refine"] == 20
    assert info["codes_fraction_of_vectors"] == 0.5
    assert index._ann_index().ntotal == 1500                           # added rows are coded too
    probe = docs[1300].text
    exact = index.search([probe], k=10, mode="dense", exact=True)[0]
    approx = index.search([probe], k=10, mode="dense")[0]
    assert approx[0].id == "d1300"
    same = {h.id: h.score for h in exact}
    assert len(set(same) & {h.id for h in approx}) >= 9
    for h in approx:                                                   # scores are the exact fp16 ones
        if h.id in same:
            assert h.score == pytest.approx(same[h.id], abs=1e-6)
    index.close()
    delete_documents(str(root), ["d1300"])
    with Index.open(root) as index:
        for mode in ("dense", "hybrid"):
            assert "d1300" not in {h.id for h in index.search([probe], k=20, mode=mode)[0]}
    derive_index(root, ann="sq4", refine=30)                          # recompress without re-encoding
    cfg = json.loads((root / "config.json").read_text())
    assert cfg["ann"]["kind"] == "sq4" and cfg["ann"]["params"]["refine"] == 30 and cfg["ann"]["rows"] == 1500
    with Index.open(root, verify=True) as index:
        info = index.info()
        assert info["ann"] == "sq4" and info["codes_fraction_of_vectors"] == 0.25
        assert info["ann_recall_at_10"] >= 0.95
        assert "d1300" not in {h.id for h in index.search([probe], k=20, mode="dense")[0]}
        assert index.search([docs[5].text], k=1, mode="dense")[0][0].id == "d5"
    from reasonir.workflows.index import IndexInfoConfig, run_index_info

    quick = run_index_info(IndexInfoConfig(index_dir=str(root)))          # from config.json, no index opened
    assert quick["ann"] == "sq4" and quick["ann_refine"] == 30 and quick["codes_fraction_of_vectors"] == 0.25
    assert quick["ann_file_bytes"] > 1500 * quick["codes_bytes_per_vector"]


def test_reuse_vectors_moves_a_local_index_into_milvus_without_encoding(tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from reasonir.errors import ConfigError as Cfg
    from reasonir.index import RunOptions

    docs = _docs(900, seed=3)
    write_corpus(tmp_path / "c.jsonl", docs)
    common = dict(model="hash", bm25=True, shard_size=400)
    first = build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "local"), IndexOptions(**common))
    assert first.shards_encoded == 3
    reuse = RunOptions(reuse_vectors=[str(tmp_path / "local")])
    moved = build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "milvus"),
                        IndexOptions(**common, store="milvus"), reuse)
    assert (moved.shards_encoded, moved.shards_reused) == (0, 3)
    other = build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "fp32"),           # other vectors: encoded
                        IndexOptions(**common, dtype="fp32"), reuse)
    assert (other.shards_encoded, other.shards_reused) == (3, 0)
    assert sorted(p.name for p in (tmp_path / "local" / "vectors").iterdir()) != []    # the donor is untouched
    with Index.open(tmp_path / "local", verify=True) as a, Index.open(tmp_path / "milvus") as b:
        texts = [d.text for d in docs[:20]]
        for mode in ("dense", "hybrid"):
            ha, hb = a.search(texts, k=10, mode=mode), b.search(texts, k=10, mode=mode)
            for x, y in zip(ha, hb):                    # same scores; same documents above the last score
                np.testing.assert_allclose([h.score for h in x], [h.score for h in y], rtol=1e-5)
                cut = x[-1].score + 1e-6
                assert {h.id for h in x if h.score > cut} == {h.id for h in y if h.score > cut}
    with pytest.raises(Cfg, match="not an index"):
        build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "x"), IndexOptions(**common),
                    RunOptions(reuse_vectors=[str(tmp_path)]))


def test_default_refine_depends_on_the_codec():
    # product codes keep 1 byte per 8 dimensions and need a larger pool than the scalar codes
    assert AnnParams(kind="ivfpq").effective_refine == 30
    assert AnnParams(kind="sq8").effective_refine == AnnParams(kind="sq4").effective_refine == 10
    assert AnnParams(kind="ivfpq", refine=5).effective_refine == 5
    assert codes_info(Path("."), {"kind": "ivfpq", "file": "x", "params": {"refine": None}}, 64, "fp16")["ann_refine"] == 30
