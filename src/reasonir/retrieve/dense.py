"""Exact dense search over L2-normalised vectors in bounded memory.

Document vectors may be a memory-mapped ``.npy`` (fp16 or fp32) of any size: they are scored in
chunks of ``chunk_size`` rows (converted to fp32 per chunk, one ``[nq, d] x [d, chunk]`` matmul), and
a running top-k is merged after each chunk, so memory is ``O(nq·(k + chunk))`` whatever the corpus
size. Ties are broken by document index, so results do not depend on the chunk size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .topk import merge_topk, topk_rows


def dense_search(query_emb: np.ndarray, doc_emb: np.ndarray | Sequence[np.ndarray], k: int = 1000,
                 excluded: Sequence[Sequence[int]] | None = None, chunk_size: int = 65536,
                 deleted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` inner-product (= cosine for unit vectors) search.

    Args:
        query_emb: ``[nq, d]`` query vectors.
        doc_emb: ``[n, d]`` document vectors, or a list of shards ``[n_i, d]`` concatenated in order.
        k: results per query.
        excluded: per query, global document indices never to return.
        chunk_size: rows scored per step (bounds memory).
        deleted: optional boolean mask ``[n]`` of documents never to return (tombstones).

    Returns:
        ``(indices [nq, k] int64, scores [nq, k] float32)``, best first; padded with ``-1``/``-inf``
        when fewer than ``k`` documents exist.
    """
    if k <= 0:
        raise ConfigError(f"k must be positive, got {k}")
    q = np.ascontiguousarray(query_emb, dtype=np.float32)
    if q.ndim != 2:
        raise ConfigError(f"query embeddings must be 2-D [nq, d], got shape {q.shape}")
    shards = [doc_emb] if isinstance(doc_emb, np.ndarray) else list(doc_emb)
    nq, dim = q.shape
    best_i = np.full((nq, 0), -1, dtype=np.int64)
    best_v = np.full((nq, 0), -np.inf, dtype=np.float32)
    excl_rows = None
    if excluded is not None:
        if len(excluded) != nq:
            raise ConfigError(f"excluded has {len(excluded)} entries for {nq} queries")
        excl_rows = [np.asarray(sorted(e), dtype=np.int64) for e in excluded]
    base = 0
    for shard in shards:
        if shard.ndim != 2 or shard.shape[1] != dim:
            raise ConfigError(f"document shard of shape {shard.shape} does not match query dim {dim}")
        for start in range(0, shard.shape[0], chunk_size):
            chunk = np.asarray(shard[start:start + chunk_size], dtype=np.float32)   # [c, d]
            lo, hi = base + start, base + start + chunk.shape[0]
            scores = q @ chunk.T                                                    # [nq, d] x [d, c] -> [nq, c]
            if deleted is not None:
                dead = np.flatnonzero(deleted[lo:hi])
                if dead.size:
                    scores[:, dead] = -np.inf
            if excl_rows is not None:
                for r, ex in enumerate(excl_rows):
                    if ex.size:
                        sel = ex[(ex >= lo) & (ex < hi)] - lo
                        scores[r, sel] = -np.inf
            ci, cv = topk_rows(scores, min(k, chunk.shape[0]))
            ci = np.where(ci >= 0, ci + lo, -1)
            best_i, best_v = merge_topk(best_i, best_v, ci, cv, k)
        base += shard.shape[0]
    if best_i.shape[1] < k:
        pad = k - best_i.shape[1]
        best_i = np.concatenate([best_i, np.full((nq, pad), -1, dtype=np.int64)], 1)
        best_v = np.concatenate([best_v, np.full((nq, pad), -np.inf, dtype=np.float32)], 1)
    best_i = np.where(np.isfinite(best_v), best_i, -1)
    return best_i, best_v.astype(np.float32)
