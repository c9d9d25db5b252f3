"""Exact dense search: chunking/blocking/sharding invariance, ties, exclusions, tombstones, fp16 shards."""

from __future__ import annotations

import numpy as np
import pytest

from reasonir.errors import ConfigError
from reasonir.retrieve import dense as dense_module
from reasonir.retrieve import dense_search
from reasonir.retrieve.topk import merge_topk, topk_1d, topk_rows


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reference(q: np.ndarray, docs: np.ndarray, k: int, banned=None) -> tuple[np.ndarray, np.ndarray]:
    """Full score matrix, then a per-query sort by (-score, index)."""
    scores = q @ docs.T
    out_i = np.full((len(q), k), -1)
    out_v = np.full((len(q), k), -np.inf, dtype=np.float32)
    for r, row in enumerate(scores):
        allowed = [i for i in range(len(docs)) if not banned or i not in banned[r]]
        order = sorted(allowed, key=lambda i: (-row[i], i))[:k]
        out_i[r, : len(order)], out_v[r, : len(order)] = order, row[order]
    return out_i, out_v


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return unit(rng, 7), unit(rng, 500)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 499, 500, 10_000])
def test_chunk_size_invariance(data, chunk_size):
    q, docs = data
    want_i, want_v = reference(q, docs, 20)
    got_i, got_v = dense_search(q, docs, k=20, chunk_size=chunk_size)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_v, want_v, rtol=1e-5)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_thread_count_invariance(data, threads):
    q, docs = data
    want = dense_search(q, docs, k=15, chunk_size=100, threads=1)
    got = dense_search(q, docs, k=15, chunk_size=100, threads=threads)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    single = [dense_search(q[r:r + 1], docs, k=15, chunk_size=100, threads=threads) for r in range(len(q))]
    np.testing.assert_array_equal(np.concatenate([s[0] for s in single]), want[0])
    np.testing.assert_allclose(np.concatenate([s[1] for s in single]), want[1], rtol=1e-6)  # gemv vs gemm rounding


def test_default_blocks_for_fp16_and_fp32(data):
    q, docs = data
    big = np.concatenate([docs] * 30)                          # 15,000 rows: several default blocks
    want_i, want_v = reference(q, big[:500], 20)
    for arr in (big, big.astype(np.float16)):
        got_i, got_v = dense_search(q, arr, k=20, excluded=[list(range(500, 15_000))] * len(q))
        if arr.dtype == np.float32:
            np.testing.assert_array_equal(got_i, want_i)
        np.testing.assert_allclose(got_v, want_v, atol=2e-3)
    assert dense_module._default_block([big], 1, len(big), 2) == 7500
    assert dense_module._default_block([big.astype(np.float16)], 1, len(big), 2) == 4096


def test_small_searches_run_in_the_calling_thread_and_large_ones_on_the_shared_pool(data, monkeypatch):
    q, docs = data
    want = dense_search(q, docs, k=10, chunk_size=100, threads=1)
    calls = []
    real_pool = dense_module._pool
    monkeypatch.setattr(dense_module, "_pool", lambda: calls.append(1) or real_pool())
    got = dense_search(q, docs, k=10, chunk_size=100)           # 500 x 16 values: below the threshold
    assert calls == []
    np.testing.assert_array_equal(got[0], want[0])
    monkeypatch.setattr(dense_module, "PARALLEL_MIN_VALUES", 1)
    got = dense_search(q, docs, k=10, chunk_size=100)           # now split across the process's workers
    assert len(calls) == 1 and dense_module._pool() is dense_module._pool()
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_ties_are_broken_by_index():
    docs = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    for chunk_size in (1, 2, 4, 100):
        idx, val = dense_search(q, docs, k=3, chunk_size=chunk_size)
        assert idx.tolist() == [[1, 2, 4]], chunk_size
        assert val.tolist() == [[1.0, 1.0, 1.0]]
    idx, _ = dense_search(q, [docs[:3], docs[3:]], k=5, chunk_size=2)
    assert idx.tolist() == [[1, 2, 4, 5, 3]]


def test_exclusions_and_deleted_mask(data):
    q, docs = data
    full_i, _ = dense_search(q, docs, k=10)
    excluded = [full_i[r, :3].tolist() + [10_000] for r in range(len(q))]   # out-of-range ids are ignored
    deleted = np.zeros(len(docs), dtype=bool)
    deleted[full_i[:, 5]] = True
    banned = [set(excluded[r]) | set(np.flatnonzero(deleted).tolist()) for r in range(len(q))]
    want_i, want_v = reference(q, docs, 10, banned)
    for chunk_size in (13, 1000):
        got_i, got_v = dense_search(q, docs, k=10, excluded=excluded, deleted=deleted, chunk_size=chunk_size)
        np.testing.assert_array_equal(got_i, want_i)
        np.testing.assert_allclose(got_v, want_v, rtol=1e-5)
        assert not np.isin(got_i, np.flatnonzero(deleted)).any()


def test_padding_when_k_exceeds_the_corpus(data):
    q, docs = data
    idx, val = dense_search(q, docs[:4], k=6, chunk_size=3)
    assert idx.shape == (len(q), 6) and val.dtype == np.float32
    assert (idx[:, 4:] == -1).all() and np.isneginf(val[:, 4:]).all()
    assert sorted(idx[0, :4].tolist()) == [0, 1, 2, 3]
    deleted = np.array([True, True, True, False])
    idx, val = dense_search(q[:1], docs[:4], k=3, deleted=deleted, excluded=[[3]])
    assert idx.tolist() == [[-1, -1, -1]] and np.isneginf(val).all()


def test_fp16_memmap_shards_match_fp32(tmp_path, data):
    q, docs = data
    paths = []
    for i, (a, b) in enumerate([(0, 130), (130, 131), (131, 500)]):
        path = tmp_path / f"shard{i}.npy"
        np.save(path, docs[a:b].astype(np.float16))
        paths.append(path)
    shards = [np.load(p, mmap_mode="r") for p in paths]
    assert all(isinstance(s, np.memmap) and s.dtype == np.float16 for s in shards)
    got_i, got_v = dense_search(q, shards, k=25, chunk_size=64)
    want_i, want_v = dense_search(q, docs, k=25)
    np.testing.assert_allclose(got_v, want_v, atol=2e-3)
    # rankings agree except where fp16 rounding swaps near-ties
    for r in range(len(q)):
        overlap = len(set(got_i[r].tolist()) & set(want_i[r].tolist()))
        assert overlap >= 23
    exact16 = q @ docs.astype(np.float16).astype(np.float32).T
    ref_i, _ = reference(q, docs.astype(np.float16).astype(np.float32), 25)
    np.testing.assert_array_equal(got_i, ref_i)
    assert np.allclose(got_v, np.take_along_axis(exact16, got_i, axis=1), rtol=1e-5)


def test_list_of_shards_equals_concatenation(data):
    q, docs = data
    shards = [docs[:1], docs[1:250], docs[250:250], docs[250:]]
    for chunk_size in (7, 300):
        got = dense_search(q, shards, k=30, chunk_size=chunk_size)
        want = dense_search(q, docs, k=30, chunk_size=chunk_size)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_bad_arguments(data):
    q, docs = data
    with pytest.raises(ConfigError, match="k must be positive"):
        dense_search(q, docs, k=0)
    with pytest.raises(ConfigError, match="2-D"):
        dense_search(q[0], docs)
    with pytest.raises(ConfigError, match="does not match query dim"):
        dense_search(q, docs[:, :8])
    with pytest.raises(ConfigError, match="excluded has 1 entries for 7 queries"):
        dense_search(q, docs, excluded=[[1]])
    with pytest.raises(ConfigError, match="deleted mask has shape"):
        dense_search(q, docs, deleted=np.zeros(3, dtype=bool))
    with pytest.raises(ConfigError, match="chunk_size"):
        dense_search(q, docs, chunk_size=0)


def test_topk_helpers_pad_and_break_ties():
    scores = np.array([[1.0, 3.0, 3.0, -np.inf, 2.0], [-np.inf] * 5, [5.0, 5.0, 5.0, 5.0, 4.0]])
    idx, val = topk_rows(scores, 3)
    assert idx.tolist() == [[1, 2, 4], [-1, -1, -1], [0, 1, 2]]
    idx, val = topk_rows(scores, 7)
    assert idx[0].tolist() == [1, 2, 4, 0, -1, -1, -1] and np.isneginf(val[0, 4:]).all()
    i, v = topk_1d(np.array([0.0, 2.0, 2.0, 1.0, 0.0]), 2, min_score=0.0)
    assert i.tolist() == [1, 2]
    rng = np.random.default_rng(1)
    big = np.round(rng.random(5000), 2)                       # many ties, beyond the packed-key threshold
    i, v = topk_1d(big, 300)
    np.testing.assert_array_equal(i, np.lexsort((np.arange(5000), -big))[:300])
    mi, mv = merge_topk(np.array([[4, -1]]), np.array([[1.0, -np.inf]]), np.array([[2, 7]]), np.array([[1.0, 3.0]]), 3)
    assert mi.tolist() == [[7, 2, 4]] and mv.tolist() == [[3.0, 1.0, 1.0]]


def test_torch_is_imported_for_the_conversion_only_after_enough_fp16_values():
    """The rent-or-buy rule: a small one-off search never imports torch, a process converting many values does."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    code = """
import sys
import numpy as np
from reasonir.retrieve import dense
dense.TORCH_AFTER_VALUES = 1_000_000
rng = np.random.default_rng(0)
docs = rng.standard_normal((1000, 384)).astype(np.float16)
q = rng.standard_normal((2, 384)).astype(np.float32)
first = dense.dense_search(q, docs, k=5)
seen = ["torch" in sys.modules]
for _ in range(2):
    again = dense.dense_search(q, docs, k=5)
    seen.append("torch" in sys.modules)
assert (first[0] == again[0]).all() and np.allclose(first[1], again[1])
print(seen)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[False, False, True]"
